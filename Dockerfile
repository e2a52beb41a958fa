FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput
RUN useradd --system --uid 1000 traffickcam && chown -R traffickcam /app
USER traffickcam
EXPOSE 8000
CMD ["gunicorn", "traffickcam.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
