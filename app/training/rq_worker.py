"""cnn-train-worker: run the training lab's jobs from Redis, one at a time (app.training.rq_jobs).

    cnn-train-worker [--url redis://host:port/db] [--burst]

Start as many as jobs may run at once, on any machine that reaches the Redis of CNN_SESSION_STORE and holds MNIST in
CNN_DATA_DIR (else the per-user cache: `cnn-data download`). Each job runs in a process forked for it, on one core.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

import redis
from rq import Queue, Worker

from app.training.rq_jobs import QUEUE


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cnn-train-worker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("CNN_SESSION_STORE"),
                        help="the Redis the server's sessions use (default: $CNN_SESSION_STORE)")
    parser.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    args = parser.parse_args(argv)
    if not args.url or not args.url.startswith(("redis://", "rediss://", "unix://")):
        parser.error("give the Redis URL of the server's sessions: --url redis://host:port/db or CNN_SESSION_STORE")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    connection = redis.Redis.from_url(args.url)
    try:
        connection.ping()
    except redis.RedisError as e:
        sys.stderr.write(f"error: cannot reach Redis at {args.url}: {e}\n")
        return 2
    worker = Worker([Queue(QUEUE, connection=connection)], connection=connection)
    worker.work(burst=args.burst, with_scheduler=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
