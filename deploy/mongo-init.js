// Makes mongo-1..3 of docker-compose.scale.yml one replica set, "rs0" (run by mongo-init).
// Safe to run again: once the set exists it only waits for a primary.
try {
  rs.status();
} catch (e) {
  rs.initiate({
    _id: "rs0",
    members: [
      { _id: 0, host: "mongo-1:27017", priority: 2 },
      { _id: 1, host: "mongo-2:27017", priority: 1 },
      { _id: 2, host: "mongo-3:27017", priority: 1 },
    ],
  });
}
while (!db.hello().isWritablePrimary && !db.hello().primary) {
  sleep(500);
}
print("replica set rs0 ready, primary " + db.hello().primary);
