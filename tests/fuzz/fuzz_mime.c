/*
 * fuzz_mime.c - libFuzzer target: the MIME parser and every IMAP view of a message
 *
 * Parses the input as a message, then produces ENVELOPE, BODYSTRUCTURE,
 * BODY, RFC822.SIZE, every section of every part (with and without a
 * partial window) and the SEARCH helpers, checking the parser's invariants
 * on the way: regions inside the message, sizes that add up; and the
 * downgrade for a next hop (mime_conv.c) in both modes. Build and run:
 * see tests/fuzz/README.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap_body.h"
#include "mime.h"

static void sink(void *ctx, const void *p, size_t n)
{
    size_t *total = ctx;
    *total += n;
    (void)p;
}

static void check_region(const struct mime_message *m, const struct mime_region *r)
{
    if (r->off > m->size || r->size > m->size - r->off || r->vsize < r->size ||
        r->vsize > 2 * r->size)
        abort();
}

/* sections - fetch every section form below part numbers nums */
static void sections(const struct mime_message *m, const struct mime_part *p, unsigned *nums,
                     unsigned depth)
{
    static const enum imap_sect_text texts[] = {
        IMAP_SECT_NONE, IMAP_SECT_HEADER, IMAP_SECT_HEADER_FIELDS, IMAP_SECT_HEADER_FIELDS_NOT,
        IMAP_SECT_TEXT, IMAP_SECT_MIME};
    check_region(m, &p->hdr);
    check_region(m, &p->body);
    if (depth >= IMAP_SECTION_MAX_PARTS)
        return;
    for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
        struct imap_section s;
        struct imap_body_data d;
        imap_section_init(&s);
        memcpy(s.parts, nums, depth * sizeof(*nums));
        s.nparts = depth;
        s.text = texts[t];
        strlist_add(&s.fields, "Subject");
        strlist_add(&s.fields, "content-type");
        if (imap_section_get(m, &s, &d) == 0) {
            size_t total = 0;
            imap_body_write(m, &d, 0, 0, 0, sink, &total);
            total = 0;
            imap_body_write(m, &d, 1, 3, 7, sink, &total);
            if (total > 7 + 5)
                abort();
        }
        imap_body_data_free(&d);
        imap_section_free(&s);
    }
    unsigned k = 1;
    for (const struct mime_part *c = p->children; c; c = c->next, k++) {
        nums[depth] = k;
        sections(m, c, nums, depth + 1);
    }
}

/* downgrade - mime_downgrade in both modes: what it gives a server is what the mode
 * allows (7-bit: bytes 1..127 only; 8-bit: no NUL), converted or not */
static void downgrade(const uint8_t *data, size_t size)
{
    for (int mode = MIME_CONV_7BIT; mode <= MIME_CONV_8BIT; mode++) {
        struct str out = STR_INIT, why = STR_INIT;
        int r = mime_downgrade((const char *)data, size, mode, &out, &why);
        if (r != -1 && r != MIME_CONV_NONE && r != MIME_CONV_DONE)
            abort();
        if ((r == -1) != (why.len > 0) || (r != MIME_CONV_DONE && out.len))
            abort();
        const unsigned char *p = r == MIME_CONV_DONE ? (const unsigned char *)out.s : data;
        size_t n = r == MIME_CONV_DONE ? out.len : size;
        for (size_t i = 0; r >= 0 && i < n; i++)
            if (p[i] == 0 || (mode == MIME_CONV_7BIT && p[i] >= 0x80))
                abort();
        str_free(&out);
        str_free(&why);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mime_limits lim = {8, 200};
    struct mime_message *m = mime_parse(data, size, &lim);
    struct str out = STR_INIT, key = STR_INIT;
    unsigned nums[IMAP_SECTION_MAX_PARTS];

    if (m->root->hdr.size + m->root->body.size != size)
        abort();
    if (imap_message_size(m) < size)
        abort();
    imap_envelope(m, m->root, &out);
    imap_bodystructure(m, m->root, 1, &out);
    imap_bodystructure(m, m->root, 0, &out);
    sections(m, m->root, nums, 0);
    imap_search_fold("\xc3\xa9T\xc3\xa9", 5, &key);
    imap_search_text(m, &key);
    imap_search_header(m, "From", &key);
    str_free(&out);
    str_free(&key);
    mime_free(m);
    downgrade(data, size);
    return 0;
}
