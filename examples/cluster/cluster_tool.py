#!/usr/bin/env python3
"""The small HTTP steps of run.sh (standard library only): ask, feedback, readiness, and
waiting for a feedback to show in every replica's routing."""
import ast, csv, json, sys, time, urllib.error, urllib.request

csv.field_size_limit(1 << 30)
DATA = "data/routerbench/arc_challenge_test.csv"


def question(i):
    with open(DATA, newline="") as f:
        for n, row in enumerate(csv.DictReader(f)):
            if n == int(i):
                return ast.literal_eval(row["prompt"])[0]
    raise SystemExit(f"no question {i}")


def call(base, path, body=None):
    req = urllib.request.Request(base + path, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read() or b"{}")


def ask(base, i):
    status, _, body = call(base, "/v1/chat/completions",
                           {"model": "smacs", "messages": [{"role": "user", "content": question(i)}]})
    if status != 200:
        raise SystemExit(f"ask: HTTP {status}: {body}")
    return body


def main(cmd, *args):
    if cmd == "ask":  # BASE Q -> id chosen proxy-of-chosen
        body = ask(*args)
        chosen = body["smacs"]["chosen"]
        print(body["id"], chosen, body["smacs"]["proxy_scores"][chosen])
    elif cmd == "feedback":  # BASE ID MODEL SCORE -> status retry-after
        status, headers, _ = call(args[0], "/v1/feedback",
                                  {"id": args[1], "model": args[2], "score": float(args[3])})
        print(status if status == 200 else f"{status} Retry-After: {headers.get('Retry-After', '-')}")
    elif cmd == "ready":  # BASE -> status
        print(call(args[0], "/ready")[0])
    elif cmd == "wait_change":  # Q MODEL BEFORE TIMEOUT_S BASE... -> ms until every BASE moved
        q, model, before, timeout = args[0], args[1], float(args[2]), float(args[3])
        start = time.monotonic()
        pending = list(args[4:])
        while pending and time.monotonic() - start < timeout:
            pending = [b for b in pending if ask(b, q)["smacs"]["proxy_scores"][model] == before]
            if pending:
                time.sleep(0.01)
        print(-1 if pending else round(1000 * (time.monotonic() - start)))
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(*sys.argv[1:])
