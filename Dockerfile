# chathub: one image for the hub. Build: docker build -t chathub .
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY hub ./hub
RUN pip install . && useradd --create-home --uid 10001 chathub && mkdir /data && chown chathub /data
USER chathub
ENV HUB_HOST=0.0.0.0 HUB_PORT=8000 HUB_DATA_DIR=/data
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status == 200 else 1)"
CMD ["chathub", "serve"]
