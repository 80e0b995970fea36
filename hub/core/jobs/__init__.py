"""Jobs: chat requests run in the background (`POST /api/v1/jobs`), for clients that cannot
hold a stream open. The queue hands each job to whichever replica has a free worker; the store
keeps its record (status, partial text, result) until it expires. See docs/jobs.md."""
