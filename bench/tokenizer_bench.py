#!/usr/bin/env python3
"""Single-threaded encode throughput: Hugging Face `tokenizers` vs mola.

    python3 bench/tokenizer_bench.py --tokenizer tests/data/tokenizers/deepseek_v3_style/tokenizer.json
    python3 bench/tokenizer_bench.py --tokenizer PATH [--corpus F ...] [--mola build/mola] [--repeats 3]

--tokenizer   tokenizer.json (HF) or tokenizer.model (SentencePiece; the HF column
              then uses the sentencepiece package).  Passing a directory picks the
              tokenizer.json (or tokenizer.model) inside it.
--corpus      files or directories (default: the corpus recorded in
              tests/data/tokenizers/expected.json: adversarial.txt + system files
              that exist on this machine).
--mola        the mola CLI.  For each file the script runs
                  mola tokenize --tokenizer PATH --text-file F --bench --no-special
              and expects one JSON line on stdout:
                  {"bytes": <int>, "seconds": <float>, "n_ids": <int>}
              (seconds = encode time only, best of the CLI's own repeats if any).
              If the CLI is missing or the call fails, the mola column says n/a.

Text for both sides is the file decoded as UTF-8 with errors='replace'; MB/s is
file bytes / 1e6 / seconds.  HF is timed in-process with RAYON_NUM_THREADS=1 and
TOKENIZERS_PARALLELISM=false, best of --repeats runs of Tokenizer.encode(text,
add_special_tokens=False) per file.  The n_ids of both sides are compared.
"""

import os

os.environ['RAYON_NUM_THREADS'] = '1'           # before tokenizers is imported
os.environ['TOKENIZERS_PARALLELISM'] = 'false'

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
DATA = os.path.join(ROOT, 'tests', 'data', 'tokenizers')


def default_corpus():
    try:
        with open(os.path.join(DATA, 'expected.json'), encoding='utf-8') as f:
            exp = json.load(f)
    except OSError:
        return []
    out = []
    for c in exp['corpus']:
        p = os.path.join(DATA, c['path']) if c['root'] == 'data' else c['path']
        if os.path.isfile(p):
            out.append(p)
    return out


def expand(paths):
    out = []
    for p in paths:
        if os.path.isdir(p):
            out += sorted(os.path.join(p, f) for f in os.listdir(p)
                          if os.path.isfile(os.path.join(p, f)))
        else:
            out.append(p)
    return out


def resolve_tokenizer(p):
    if os.path.isdir(p):
        for n in ('tokenizer.json', 'tokenizer.model'):
            if os.path.isfile(os.path.join(p, n)):
                return os.path.join(p, n)
        sys.exit('no tokenizer.json / tokenizer.model in %s' % p)
    return p


def make_hf(path):
    if path.endswith('.model'):
        import sentencepiece as spm
        sp = spm.SentencePieceProcessor(model_file=path)
        return 'sentencepiece', lambda t: sp.encode(t, out_type=int)
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(path)
    return 'tokenizers', lambda t: tok.encode(t, add_special_tokens=False).ids


def bench_hf(enc, text, repeats):
    best, n = float('inf'), 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        ids = enc(text)
        best = min(best, time.perf_counter() - t0)
        n = len(ids)
    return best, n


def bench_mola(mola, tok, path, timeout):
    if not mola or not os.path.isfile(mola) or not os.access(mola, os.X_OK):
        return None, 'no mola binary'
    try:
        r = subprocess.run([mola, 'tokenize', '--tokenizer', tok, '--text-file', path, '--bench', '--no-special'],
                           capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, str(e)
    if r.returncode != 0:
        first = next((l for l in r.stderr.splitlines() if l.strip()), '')
        return None, ('rc=%d %s' % (r.returncode, first)).strip()
    for line in reversed(r.stdout.strip().splitlines()):
        try:
            j = json.loads(line)
            return (float(j['seconds']), int(j['n_ids']), int(j['bytes'])), None
        except (ValueError, KeyError, TypeError):
            continue
    return None, 'no JSON line on stdout'


def main():
    ap = argparse.ArgumentParser(description='tokenizer encode throughput, HF vs mola')
    ap.add_argument('--tokenizer', required=True)
    ap.add_argument('--corpus', nargs='*', help='files or directories')
    ap.add_argument('--mola', default=os.path.join(ROOT, 'build', 'mola'))
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--timeout', type=float, default=300)
    ap.add_argument('--per-file', action='store_true', help='print one row per file')
    ap.add_argument('--json', help='also write the results to this file')
    a = ap.parse_args()

    tok = resolve_tokenizer(a.tokenizer)
    files = expand(a.corpus) if a.corpus else default_corpus()
    if not files:
        sys.exit('no corpus files')
    lib, enc = make_hf(tok)
    rows = []
    mola_err = None
    for p in files:
        with open(p, 'rb') as f:
            raw = f.read()
        text = raw.decode('utf-8', errors='replace')
        hs, hn = bench_hf(enc, text, a.repeats)
        m, err = bench_mola(a.mola, tok, p, a.timeout) if mola_err is None else (None, mola_err)
        if m is None and mola_err is None:
            mola_err = err  # the CLI failed once: don't retry on every file
        rows.append({'file': p, 'bytes': len(raw), 'hf_seconds': hs, 'hf_n_ids': hn,
                     'mola_seconds': m[0] if m else None, 'mola_n_ids': m[1] if m else None,
                     'mola_error': err})

    def mbps(b, s):
        return b / 1e6 / s if s else float('inf')

    def fmt(x, w=10, p=2):
        return ('%*.*f' % (w, p, x)) if x is not None else '%*s' % (w, 'n/a')

    print('tokenizer: %s   HF side: %s %s   repeats: %d   files: %d' % (
        tok, lib, __import__(lib).__version__, a.repeats, len(rows)))
    hdr = '%-44s %10s %10s %10s %8s %s' % ('file', 'MB', 'HF MB/s', 'mola MB/s', 'mola/HF', 'ids')
    print(hdr)
    print('-' * len(hdr))
    tb = sum(r['bytes'] for r in rows)
    ths = sum(r['hf_seconds'] for r in rows)
    mola_ok = all(r['mola_seconds'] is not None for r in rows)
    tms = sum(r['mola_seconds'] for r in rows) if mola_ok else None
    mism = 0
    for r in rows:
        hf = mbps(r['bytes'], r['hf_seconds'])
        ml = mbps(r['bytes'], r['mola_seconds']) if r['mola_seconds'] is not None else None
        same = ('' if r['mola_n_ids'] is None else
                ('same' if r['mola_n_ids'] == r['hf_n_ids'] else
                 'DIFF %d vs %d' % (r['mola_n_ids'], r['hf_n_ids'])))
        if r['mola_n_ids'] is not None and r['mola_n_ids'] != r['hf_n_ids']:
            mism += 1
        if a.per_file:
            print('%-44s %10.3f %s %s %s %s' % (r['file'][-44:], r['bytes'] / 1e6, fmt(hf),
                                                fmt(ml), fmt(ml / hf if ml else None, 8), same))
    hf = mbps(tb, ths)
    ml = mbps(tb, tms) if tms is not None else None
    print('%-44s %10.3f %s %s %s %s' % ('TOTAL', tb / 1e6, fmt(hf), fmt(ml),
                                        fmt(ml / hf if ml else None, 8),
                                        '' if ml is None else ('n_ids same' if not mism else '%d files differ' % mism)))
    errs = sorted({r['mola_error'] for r in rows if r['mola_error']})
    if errs:
        print('mola n/a: ' + '; '.join(errs[:3]))
    if a.json:
        with open(a.json, 'w') as f:
            json.dump({'tokenizer': tok, 'rows': rows, 'total_bytes': tb,
                       'hf_mb_s': hf, 'mola_mb_s': ml}, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
