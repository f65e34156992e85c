# autosubs: one small container next to a Gcore Video Streaming account.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AUTOSUBS_DATABASE_URL=sqlite:////data/autosubs.db

WORKDIR /app
COPY pyproject.toml README.md ./
COPY handler ./handler
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home /data autosubs \
    && mkdir -p /data && chown autosubs /data

USER autosubs
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz').status == 200 else 1)"
ENTRYPOINT ["autosubs"]
CMD ["serve"]
