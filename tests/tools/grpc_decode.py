#!/usr/bin/python3
"""Decodes ExportProfilesServiceRequest messages with Python code that
protoc generated from the repo's proto/ files (--pb DIR, made by the test)
and prints a summary, one fact per line:

  requests N
  resource KEY=VALUE                  (string attributes of the first request)
  profile TYPE/UNIT PERIOD_TYPE/UNIT PERIOD
  total TYPE/UNIT SUM                 (values summed, or timestamps counted)
  incl TYPE/UNIT FUNCTION PERCENT     (share of samples whose stack holds it)
Exits 1 if a message does not parse or an index is out of range.
"""
import argparse
import collections
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pb", required=True)
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    sys.path.insert(0, a.pb)
    import otlp_profiles_service_pb2 as svc  # generated at test time

    totals = collections.Counter()
    incl = collections.defaultdict(collections.Counter)
    profiles = set()
    resource = []
    bad = 0
    for i, path in enumerate(a.files):
        req = svc.ExportProfilesServiceRequest()
        with open(path, "rb") as f:
            req.ParseFromString(f.read())
        d = req.dictionary
        st = d.string_table

        def s(i):
            return st[i] if 0 <= i < len(st) else None

        for rp in req.resource_profiles:
            if i == 0 and not resource:
                for kv in rp.resource.attributes:
                    if kv.value.WhichOneof("value") == "string_value":
                        resource.append("%s=%s" % (kv.key, kv.value.string_value))
            for sp in rp.scope_profiles:
                for p in sp.profiles:
                    t = "%s/%s" % (s(p.sample_type.type_strindex), s(p.sample_type.unit_strindex))
                    pt = "%s/%s" % (s(p.period_type.type_strindex), s(p.period_type.unit_strindex))
                    profiles.add("%s %s %d" % (t, pt, p.period))
                    for smp in p.samples:
                        w = sum(smp.values) if len(smp.values) else len(smp.timestamps_unix_nano)
                        totals[t] += w
                        if not 0 <= smp.stack_index < len(d.stack_table):
                            bad += 1
                            continue
                        names = set()
                        for li in d.stack_table[smp.stack_index].location_indices:
                            if not 0 <= li < len(d.location_table):
                                bad += 1
                                continue
                            for line in d.location_table[li].lines:
                                if 0 <= line.function_index < len(d.function_table):
                                    n = s(d.function_table[line.function_index].name_strindex)
                                    if n:
                                        names.add(n)
                        for n in names:
                            incl[t][n] += w
    print("requests %d" % len(a.files))
    for r in resource:
        print("resource " + r)
    for p in sorted(profiles):
        print("profile " + p)
    for t, v in sorted(totals.items()):
        print("total %s %d" % (t, v))
        for n, w in incl[t].most_common(50):
            print("incl %s %s %.2f" % (t, n, 100.0 * w / v if v else 0))
    if bad:
        print("bad %d out-of-range indices" % bad)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
