"""The reference for reference_test.go: python-dateutil's expansion of an
RFC 5545 RRULE, an implementation independent of the engine under test.

Usage: /usr/bin/python3 expand.py ZONEINFO_ZIP

ZONEINFO_ZIP is Go's $GOROOT/lib/time/zoneinfo.zip: every zone is read from
it (zoneinfo.ZoneInfo.from_file), never from the host's tz database, so that
both sides of the comparison use the same tzdata.

The first line written is {"ready": DATEUTIL_VERSION, "python": VERSION}.
Then, for each JSON request read on a line of stdin, one JSON answer is
written on a line of stdout. A request:

    {"rule": "FREQ=WEEKLY;BYDAY=MO,TH", "zone": "Europe/Berlin",
     "start": "2027-03-26T02:30:00", "fold": 0, "n": 30,
     "before": "2127-03-26T01:30:00Z"}

rule is the RRULE value (UNTIL in its UTC form), start DTSTART's local wall
time in zone (whole seconds), read with fold (0: the first of two equal wall
times, and a wall time inside a gap read with the offset before the gap, as
RFC 5545 reads them; 1: the second). n is how many occurrences to give at
most; with before (optional, a UTC instant) only those before it, and the
expansion also stops after before's year (so that a rule with no occurrence
at all does not make dateutil search up to the year 9999).

The answer is {"start": DTSTART as a UTC instant, "occ": [[UTC, wall], ...]}
with each occurrence as a UTC instant (RFC 3339, "Z") and its local wall
time, or {"error": "..."}. Like dateutil, which ends in the year 9999, the
expansion ends before an occurrence whose UTC instant is after that year.
"""

import datetime
import itertools
import json
import sys
import zipfile
import zoneinfo

import dateutil
import dateutil.rrule


def utc(dt):
    u = dt.astimezone(datetime.timezone.utc)
    if u.microsecond:
        raise ValueError("not a whole second: %r" % (dt,))
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (u.year, u.month, u.day, u.hour, u.minute, u.second)


def wall(dt):
    return "%04d-%02d-%02dT%02d:%02d:%02d" % (dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second)


def parse_utc(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


class Zones:
    def __init__(self, path):
        self.zip = zipfile.ZipFile(path)
        self.cache = {}

    def get(self, name):
        z = self.cache.get(name)
        if z is None:
            with self.zip.open(name) as f:
                z = zoneinfo.ZoneInfo.from_file(f, key=name)
            self.cache[name] = z
        return z


def expand(req, zones):
    tz = zones.get(req["zone"])
    naive = datetime.datetime.strptime(req["start"], "%Y-%m-%dT%H:%M:%S")
    dtstart = naive.replace(tzinfo=tz, fold=req.get("fold", 0))
    rule = dateutil.rrule.rrulestr(req["rule"], dtstart=dtstart, cache=False)
    n = req["n"]
    before = parse_utc(req["before"]) if req.get("before") else None
    saved = datetime.MAXYEAR
    if before is not None:
        # dateutil's iteration ends after the year datetime.MAXYEAR (read at
        # each period); bound it to the horizon asked for.
        datetime.MAXYEAR = min(saved, before.year + 1)
    try:
        occ = []
        for dt in itertools.islice(rule, n):
            if before is not None and dt >= before:
                break
            try:
                at = utc(dt)
            except OverflowError:  # after 9999-12-31T23:59:59Z: dateutil's end too
                break
            occ.append([at, wall(dt)])
    finally:
        datetime.MAXYEAR = saved
    return {"start": utc(dtstart), "occ": occ}


def main():
    zones = Zones(sys.argv[1])
    out = sys.stdout
    out.write(json.dumps({"ready": dateutil.__version__, "python": sys.version.split()[0]}) + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            ans = expand(json.loads(line), zones)
        except Exception as e:  # the test reports it with the request
            ans = {"error": "%s: %s" % (type(e).__name__, e)}
        out.write(json.dumps(ans) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
