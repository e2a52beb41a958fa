FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
# WeasyPrint (case-file PDFs) draws text with pango and needs a font; gettext's msgfmt
# compiles the traveller pages' translations.
RUN apt-get update && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core gettext \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# locale/*.po to .mo (not committed), as `make messages` does: no settings module needed.
RUN DJANGO_SETTINGS_MODULE= python -m django compilemessages --ignore '.*' --ignore node_modules
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput
RUN useradd --system --uid 1000 traffickcam && chown -R traffickcam /app
USER traffickcam
EXPOSE 8000
CMD ["gunicorn", "traffickcam.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
