/*
 * fuzz_codec - libFuzzer target: base64, quoted-printable, RFC 2047/2231
 * decoding and charset conversion
 *
 * The first byte picks a charset from a list of those mail really carries
 * (and a few unknown names); the rest is the data. Checks: base64 decodes
 * what it encoded, decoded sizes stay within the input's bounds, every
 * conversion yields valid UTF-8, and the UTF-8 helpers agree with each
 * other.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "charset.h"
#include "mime.h"
#include "str.h"

static const char *const charsets[] = {
    "utf-8",     "us-ascii",   "iso-8859-1",  "iso-8859-15", "windows-1252", "koi8-r",
    "shift_jis", "euc-jp",     "iso-2022-jp", "gb2312",      "gbk",          "gb18030",
    "big5",      "euc-kr",     "utf-16",      "utf-16le",    "utf-7",        "x-unknown",
    "",          "utf-8\"; x", "iso-8859-99",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    const char *cs = charsets[data[0] % (sizeof(charsets) / sizeof(charsets[0]))];
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    struct str a = STR_INIT, b = STR_INIT, c = STR_INIT;

    if (base64_decode(in, n, &a) == 0) {
        base64_encode(str_c(&a), a.len, &b);
        if (base64_decode(str_c(&b), b.len, &c) != 0 || c.len != a.len ||
            memcmp(str_c(&c), str_c(&a), a.len) != 0)
            abort();
    }
    str_reset(&a);
    if (base64_decode_mime(in, n, &a) == 0 && a.len > n)
        abort();
    str_reset(&a);
    mime_decode_qp(in, n, &a);
    if (a.len > n)
        abort();
    str_reset(&a);
    mime_decode_header(in, n, &a);
    if (!utf8_valid(str_c(&a), a.len))
        abort();
    str_reset(&a);
    if (charset_to_utf8(cs, in, n, &a) == 0 && !utf8_valid(str_c(&a), a.len))
        abort();
    charset_known(cs);
    str_reset(&a);
    utf8_repair(in, n, &a);
    if (!utf8_valid(str_c(&a), a.len))
        abort();
    str_reset(&b);
    utf8_fold(str_c(&a), a.len, &b);
    if (utf8_valid(in, n)) {
        size_t off = 0;
        while (off < n) {
            unsigned cp;
            size_t k = utf8_decode_one((const unsigned char *)in + off, n - off, &cp);
            if (k == 0 || k > n - off)
                abort();
            off += k;
        }
    }
    str_free(&a);
    str_free(&b);
    str_free(&c);
    return 0;
}
