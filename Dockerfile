# The CNN visualizer as a container: the package installed (not editable) into the image's Python, served by uvicorn
# on port 8000 as a non-root user.
#
#   docker build -t cnn-visualizer .  &&  docker run --rm -p 127.0.0.1:8000:8000 cnn-visualizer
#
# One stage: the sources are a few hundred kB, so building a wheel in a separate stage would save almost nothing.
# One uvicorn worker per container. Sessions live in its memory unless CNN_SESSION_STORE names a Redis: then any
# number of containers serve any learner behind a load balancer (compose.yaml, deploy/nginx.conf).
FROM python:3.11-slim-bookworm

# One BLAS thread per request: the concurrency comes from uvicorn's thread pool, and LeNet's matrices are too small
# to gain from more. With OpenBLAS's default (a thread per core) 32 concurrent sessions drop from ~30 to ~1.5 cycles
# per second and steps time out (python -m benchmarks.server, 2 cores).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    OPENBLAS_NUM_THREADS=1 \
    OMP_NUM_THREADS=1

# A fixed UID/GID, so that volume permissions and Kubernetes' runAsUser can name it.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app

# Only what `pip install .` reads (.dockerignore keeps the rest out). templates/, static/ and the pretrained model
# travel inside the installed package (see [tool.setuptools] in pyproject.toml), so the sources are removed after.
COPY pyproject.toml README.md LICENSE /tmp/src/
COPY cnn /tmp/src/cnn
COPY app /tmp/src/app
COPY templates /tmp/src/templates
COPY static /tmp/src/static
RUN pip install --no-cache-dir /tmp/src \
    && rm -rf /tmp/src \
    && mkdir -p /srv/cnn-visualizer /data/mnist \
    && chown 10001:10001 /data/mnist

# An empty working directory away from the sources, so `app` is imported from the installed package. Made above by
# root, so the app's user cannot write there (it writes nothing: sessions live in memory or in Redis). /data/mnist is
# the app user's: compose's train-worker fetches MNIST there (a new named volume takes the folder's owner).
WORKDIR /srv/cnn-visualizer
USER 10001:10001

EXPOSE 8000

# urllib, since slim images have no curl; urlopen raises (exit 1) on a refused connection or a non-2xx answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

# No `server` header (it names the software to whoever asks); X-Forwarded-* only when CNN_TRUST_PROXY_HEADERS=true
# (uvicorn's own proxy handling would trust them from 127.0.0.1 whatever the setting). A WebSocket message is bounded
# like the forward's body at the default CNN_MAX_UPLOAD_BYTES (app.limits.forward_body_bytes; a test holds them equal).
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000", "--no-server-header", "--no-proxy-headers", "--ws-max-size", "7056042"]
