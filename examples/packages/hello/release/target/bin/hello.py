#!/usr/bin/env python3
"""hello: a small HTTP service to deploy with noops.

GET /        -> {"service", "version", "env", "config"} (secret config values hidden)
GET /health  -> 200 {"status": "ok"}

It listens where its rendered config says, writes its pid to pid_file and its access log to
log_file (both under data_path, outside the program tree), and stops cleanly on SIGTERM.
"""

import argparse
import configparser
import json
import logging
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET_WORDS = ("passwd", "password", "secret", "token", "key", "dsn")


def load_config(path):
    parser = configparser.ConfigParser(interpolation=None)
    if not parser.read(path):
        raise SystemExit("hello: cannot read config %s" % path)
    return {section: dict(parser.items(section)) for section in parser.sections()}


def public_config(config):
    return {section: {k: ("<secret>" if any(w in k.lower() for w in SECRET_WORDS) else v) for k, v in items.items()}
            for section, items in config.items()}


def make_handler(config):
    main = config["hello"]
    body = json.dumps({"service": main.get("service"), "version": main.get("version"), "env": main.get("env"),
                       "config": public_config(config)}, sort_keys=True).encode()

    class Handler(BaseHTTPRequestHandler):
        server_version = "hello/1"

        def do_GET(self):
            if self.path == "/":
                self.reply(200, body)
            elif self.path == "/health":
                self.reply(200, b'{"status": "ok"}')
            else:
                self.reply(404, b'{"error": "not found"}')

        def reply(self, status, payload):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, fmt, *args):
            logging.info("%s %s", self.address_string(), fmt % args)

    return Handler


def setup_logging(log_file):
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_file:
        try:
            os.makedirs(os.path.dirname(log_file), exist_ok=True)
            handlers.append(logging.FileHandler(log_file))
        except OSError as e:
            print("hello: cannot log to %s: %s" % (log_file, e), file=sys.stderr)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", handlers=handlers)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    config = load_config(args.config)
    main_section = config.get("hello")
    if main_section is None:
        raise SystemExit("hello: %s has no [hello] section" % args.config)
    setup_logging(main_section.get("log_file"))
    server = ThreadingHTTPServer((main_section.get("listen", "127.0.0.1"), int(main_section["port"])),
                                 make_handler(config))
    pid_file = main_section.get("pid_file")
    if pid_file:
        os.makedirs(os.path.dirname(pid_file), exist_ok=True)
        with open(pid_file, "w") as f:
            f.write("%d\n" % os.getpid())

    def stop(signum, frame):
        # shutdown() waits for serve_forever to return, so it must run outside the serving thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logging.info("%s %s (%s) listening on %s:%s", main_section.get("service"), main_section.get("version"),
                 main_section.get("env"), *server.server_address[:2])
    try:
        server.serve_forever()
    finally:
        server.server_close()
        if pid_file:
            try:
                os.unlink(pid_file)
            except OSError:
                pass
        logging.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
