#!/usr/bin/python3
"""Check Prometheus text exposition (format 0.0.4) read from stdin.

Parses with the real parser from Debian's python3-prometheus-client
(prometheus_client.parser.text_string_to_metric_families). That parser is lax
(it turns unknown lines into untyped metrics and does not check names), so the
checks it skips that matter to jobd are done here as well.

On success prints, as one JSON object per line with sorted keys, each family
({"family", "help", "type"}) followed by its samples ({"labels", "name",
"value"}), so callers can assert the decoded (unescaped) text, and exits 0.
On error prints the reason to stderr and exits 1; exits 2 if the parser is
not installed (apt-get install python3-prometheus-client).

Usage: curl -s localhost:8080/metrics | tests/unit/check_metrics_format.py
"""
import json
import math
import re
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    print("prometheus_client not installed (apt-get install python3-prometheus-client)",
          file=sys.stderr)
    sys.exit(2)

METRIC_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def check(text):
    families = list(text_string_to_metric_families(text))
    # Every sample line must come out as exactly one sample: the parser drops
    # nothing silently, but this keeps it honest if that ever changes.
    sample_lines = [l for l in text.splitlines() if l.strip() and not l.lstrip().startswith("#")]
    if len(sample_lines) != sum(len(f.samples) for f in families):
        raise ValueError(f"{len(sample_lines)} sample lines but "
                         f"{sum(len(f.samples) for f in families)} samples parsed")
    seen_families = set()
    seen_series = set()
    out = []
    for fam in families:
        # jobd always writes # TYPE; untyped means a line fell outside its family.
        if fam.type not in ("counter", "gauge", "histogram"):
            raise ValueError(f"family {fam.name!r} has type {fam.type!r}")
        if fam.name in seen_families:
            raise ValueError(f"family {fam.name!r} appears twice")
        seen_families.add(fam.name)
        out.append({"family": fam.name, "help": fam.documentation, "type": fam.type})
        buckets = {}  # labels without le -> [(le, count)]
        counts = {}
        for s in fam.samples:
            if not METRIC_RE.match(s.name):
                raise ValueError(f"bad metric name {s.name!r}")
            for label in s.labels:
                if not LABEL_RE.match(label) or label.startswith("__"):
                    raise ValueError(f"bad label name {label!r} in {s.name}")
            key = (s.name, tuple(sorted(s.labels.items())))
            if key in seen_series:
                raise ValueError(f"duplicate series {key}")
            seen_series.add(key)
            if fam.type == "counter" and not s.value >= 0:
                raise ValueError(f"counter {s.name} has value {s.value}")
            if fam.type == "histogram":
                rest = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
                if s.name.endswith("_bucket"):
                    buckets.setdefault(rest, []).append((float(s.labels["le"]), s.value))
                elif s.name.endswith("_count"):
                    counts[rest] = s.value
            out.append({"name": s.name, "labels": s.labels, "value": s.value})
        for rest, bs in buckets.items():
            les = [le for le, _ in bs]
            values = [v for _, v in bs]
            if les != sorted(les) or les[-1] != math.inf:
                raise ValueError(f"{fam.name}{dict(rest)}: le not increasing to +Inf: {les}")
            if values != sorted(values):
                raise ValueError(f"{fam.name}{dict(rest)}: buckets not cumulative: {values}")
            if counts.get(rest) != values[-1]:
                raise ValueError(f"{fam.name}{dict(rest)}: _count != +Inf bucket")
    return out


def main():
    sys.stdin.reconfigure(encoding="utf-8")  # the format is UTF-8 whatever the locale
    try:
        samples = check(sys.stdin.read())
    except Exception as e:  # the parser raises ValueError, IndexError, ...
        print(f"invalid exposition: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    for s in samples:
        print(json.dumps(s, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
