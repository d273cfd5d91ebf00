/*
 * mimedump.c - show how Petrel parses a message (a development tool, not installed)
 *
 *   tests/mimedump FILE [SECTION...]
 *
 * Prints the part tree (offsets, sizes, lines, types), the ENVELOPE and
 * BODYSTRUCTURE that imapd sends, and the bytes of each SECTION given
 * ("1.2", "HEADER", "2.HEADER.FIELDS (From To)", "1.MIME", ...; CRLF shown
 * as <CRLF>). Useful when writing the expected results of tests/mime/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_body.h"
#include "mime.h"
#include "str.h"

static void show(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n') {
            fputs("<CRLF>", stdout);
            i++;
        } else {
            putchar(p[i]);
        }
    }
    putchar('\n');
}

static void tree(const struct mime_part *p, int indent)
{
    printf("%*s%s/%s flags=%#x hdr=%zu+%zu(v%zu,l%zu) body=%zu+%zu(v%zu,l%zu)\n", indent, "",
           p->type, p->subtype, p->flags, p->hdr.off, p->hdr.size, p->hdr.vsize, p->hdr.lines,
           p->body.off, p->body.size, p->body.vsize, p->body.lines);
    for (const struct mime_part *c = p->children; c; c = c->next)
        tree(c, indent + 2);
}

/* parse_section - a tiny section parser for this tool only */
static void parse_section(const char *spec, struct imap_section *s)
{
    const char *p = spec;

    imap_section_init(s);
    while (*p >= '0' && *p <= '9') {
        s->parts[s->nparts++] = (unsigned)strtoul(p, (char **)&p, 10);
        if (*p == '.')
            p++;
    }
    if (strncasecmp(p, "HEADER.FIELDS.NOT", 17) == 0)
        s->text = IMAP_SECT_HEADER_FIELDS_NOT, p += 17;
    else if (strncasecmp(p, "HEADER.FIELDS", 13) == 0)
        s->text = IMAP_SECT_HEADER_FIELDS, p += 13;
    else if (strncasecmp(p, "HEADER", 6) == 0)
        s->text = IMAP_SECT_HEADER;
    else if (strncasecmp(p, "TEXT", 4) == 0)
        s->text = IMAP_SECT_TEXT;
    else if (strncasecmp(p, "MIME", 4) == 0)
        s->text = IMAP_SECT_MIME;
    if (s->text == IMAP_SECT_HEADER_FIELDS || s->text == IMAP_SECT_HEADER_FIELDS_NOT) {
        char *copy = strdup(p), *save = NULL;
        for (char *t = strtok_r(copy, " ()", &save); t; t = strtok_r(NULL, " ()", &save))
            strlist_add(&s->fields, t);
        free(copy);
    }
}

static void out_write(void *ctx, const void *p, size_t n)
{
    str_catn(ctx, p, n);
}

int main(int argc, char **argv)
{
    struct str err = STR_INIT, out = STR_INIT;

    if (argc < 2) {
        fprintf(stderr, "usage: mimedump FILE [SECTION...]\n");
        return 2;
    }
    struct mime_message *m = mime_open_file(argv[1], NULL, &err);
    if (m == NULL) {
        fprintf(stderr, "mimedump: %s\n", str_c(&err));
        return 1;
    }
    tree(m->root, 0);
    printf("RFC822.SIZE %zu\n", imap_message_size(m));
    imap_envelope(m, m->root, &out);
    fputs("ENVELOPE ", stdout);
    show(out.s, out.len);
    str_reset(&out);
    imap_bodystructure(m, m->root, 1, &out);
    fputs("BODYSTRUCTURE ", stdout);
    show(out.s, out.len);
    for (int i = 2; i < argc; i++) {
        struct imap_section s;
        struct imap_body_data d;
        parse_section(argv[i], &s);
        str_reset(&out);
        if (imap_section_get(m, &s, &d) < 0)
            str_cat(&out, "NIL");
        else
            imap_body_write(m, &d, 0, 0, 0, out_write, &out);
        printf("BODY[%s] ", argv[i]);
        show(out.s, out.len);
        imap_body_data_free(&d);
        imap_section_free(&s);
    }
    mime_free(m);
    str_free(&out);
    str_free(&err);
    return 0;
}
