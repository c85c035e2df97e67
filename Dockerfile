# Driftdeck dashboard on 0.0.0.0:8501, installed the same way the README does.
FROM python:3.11-slim
WORKDIR /app
COPY . /app
RUN python3 -m pip install --no-cache-dir -c constraints.txt -e . \
    && driftdeck demo --out /app
ENV DASHBOARD_PORT=8501 \
    DRIFTDECK_CONFIG=/app/driftdeck.toml \
    MLFLOW_TRACKING_URI=sqlite:////app/mlflow.db \
    DRIFTDECK_ALLOW_WEBSOCKET_ORIGIN=localhost:8501
EXPOSE 8501
CMD ["sh", "-c", "panel serve panel_serve.py --address 0.0.0.0 --port 8501 --warm --allow-websocket-origin \"$DRIFTDECK_ALLOW_WEBSOCKET_ORIGIN\""]
