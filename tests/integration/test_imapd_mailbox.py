"""End-to-end tests of imapd's mailbox commands over the real mail store: SELECT,
EXAMINE, LIST/LSUB (CHILDREN, SPECIAL-USE), CREATE/DELETE/RENAME, SUBSCRIBE,
STATUS, APPEND (APPENDUID, a 20 MiB literal), FETCH (every item, the MIME corpus
of tests/mime through the store), STORE, SEARCH, COPY/MOVE (COPYUID), EXPUNGE,
UID EXPUNGE, CLOSE, and concurrent sessions with the exact untagged responses."""

import glob
import imaplib
import os
import re
import time

import pytest

from imapd_util import USERS, RawIMAP, deliver, imapd_instance, maildir

JOE, JOE_PW = "joe@example.com", USERS["joe@example.com"]
MIME = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mime")
SYS_FLAGS = rb"\Answered \Flagged \Deleted \Seen \Draft"


@pytest.fixture
def imap(instances):
    return imapd_instance(instances, main_cf={"message_size_limit": "30m"})


def login(inst, user=JOE, pw=JOE_PW):
    c = RawIMAP(inst.imap_port)
    c.line()
    assert c.cmd("L", 'LOGIN %s "%s"' % (user, pw))[-1].startswith(b"L OK")
    return c


def select(c, box="INBOX", tag="S", verb="SELECT"):
    r = c.cmd(tag, "%s %s" % (verb, box))
    assert r[-1].startswith(tag.encode() + b" OK"), r
    return r


def message(subject, body="hello\n", extra=""):
    return ("From: Ann <ann@example.com>\nTo: joe@example.com\nSubject: %s\n"
            "Date: Mon, 7 Feb 1994 21:52:25 -0800\n%s\n%s" % (subject, extra, body))


# ---- SELECT, LIST, names ------------------------------------------------------

def test_select_empty_inbox(imap):
    c = login(imap)
    r = select(c, tag="a")
    assert r[0] == b"* FLAGS (" + SYS_FLAGS + b")"
    assert r[1] == b"* OK [PERMANENTFLAGS (" + SYS_FLAGS + b" \\*)] Flags permitted."
    assert r[2:4] == [b"* 0 EXISTS", b"* 0 RECENT"]
    assert re.match(rb"\* OK \[UIDVALIDITY \d+\] UIDs valid\.$", r[4])
    assert r[5:] == [b"* OK [UIDNEXT 1] Predicted next UID.",
                     b"a OK [READ-WRITE] SELECT completed."]
    assert c.cmd("b", "FETCH 1:* FLAGS") == [b"b OK Fetch completed."]
    assert c.cmd("c", "FETCH 1 FLAGS") == [
        b"c BAD Error in IMAP command FETCH: invalid message number."]
    assert c.cmd("d", "SEARCH ALL") == [b"* SEARCH", b"d OK Search completed."]
    assert c.cmd("e", "SELECT Nowhere") == [b"e NO [NONEXISTENT] Mailbox doesn't exist: Nowhere"]
    # a failed SELECT leaves no mailbox selected (RFC 3501 6.3.1)
    assert c.cmd("f", "FETCH 1:* FLAGS") == [
        b"f BAD Error in IMAP command FETCH: no mailbox is selected."]


def test_list_special_use_and_hierarchy(imap):
    c = login(imap)
    assert c.cmd("a", 'LIST "" "*"') == [
        b'* LIST (\\HasNoChildren) "." INBOX',
        b'* LIST (\\HasNoChildren \\Archive) "." Archive',
        b'* LIST (\\HasNoChildren \\Drafts) "." Drafts',
        b'* LIST (\\HasNoChildren \\Junk) "." Junk',
        b'* LIST (\\HasNoChildren \\Sent) "." Sent',
        b'* LIST (\\HasNoChildren \\Trash) "." Trash',
        b"a OK List completed."]
    assert c.cmd("b", 'LIST "" ""') == [b'* LIST (\\Noselect) "." ""', b"b OK List completed."]
    assert c.cmd("c", "CREATE Lists.petrel.dev.") == [b"c OK Create completed."]
    assert c.cmd("d", 'LIST "" "Lists*"') == [
        b'* LIST (\\HasChildren) "." Lists',
        b'* LIST (\\HasChildren) "." Lists.petrel',
        b'* LIST (\\HasNoChildren) "." Lists.petrel.dev',
        b"d OK List completed."]
    assert c.cmd("e", 'LIST "Lists." "%"') == [
        b'* LIST (\\HasChildren) "." Lists.petrel', b"e OK List completed."]
    assert c.cmd("f", 'LIST "" "inbox"') == [
        b'* LIST (\\HasNoChildren) "." INBOX', b"f OK List completed."]
    # modified UTF-7 names go in and come back in their wire form
    assert c.cmd("g", "CREATE Entw&APw-rfe") == [b"g OK Create completed."]
    assert c.cmd("h", 'LIST "" "Entw*"') == [
        b'* LIST (\\HasNoChildren) "." Entw&APw-rfe', b"h OK List completed."]
    assert c.cmd("i", "CREATE bad&name")[0].startswith(b"i BAD Error in IMAP command CREATE: "
                                                      b"mailbox name is not valid")
    assert c.cmd("j", 'CREATE "with space"') == [b"j OK Create completed."]
    assert c.cmd("k", 'LIST "" "with*"') == [
        b'* LIST (\\HasNoChildren) "." "with space"', b"k OK List completed."]


def test_create_delete_rename_subscribe(imap):
    c = login(imap)
    assert c.cmd("a", "CREATE INBOX") == [b"a NO [ALREADYEXISTS] INBOX always exists."]
    assert c.cmd("b", "CREATE Work.Projects") == [b"b OK Create completed."]
    assert c.cmd("c", "CREATE Work") == [b"c NO [ALREADYEXISTS] Mailbox already exists: Work"]
    assert c.cmd("d", "CREATE a%b") == [b"d BAD Error in IMAP command CREATE: unexpected text "
                                        b"at the end of the command."]
    assert c.cmd("e", 'CREATE "a%b"') == [b"e NO [CANNOT] Invalid mailbox name."]
    assert c.cmd("f", "DELETE INBOX") == [b"f NO [CANNOT] INBOX cannot be deleted."]
    assert c.cmd("g", "DELETE Nothing") == [b"g NO [NONEXISTENT] Mailbox doesn't exist: Nothing"]
    assert c.cmd("h", "RENAME Work Job") == [b"h OK Rename completed."]
    assert c.cmd("i", 'LIST "" "Job*"') == [
        b'* LIST (\\HasChildren) "." Job', b'* LIST (\\HasNoChildren) "." Job.Projects',
        b"i OK List completed."]
    assert c.cmd("j", "RENAME Job Trash") == [b"j NO [ALREADYEXISTS] Mailbox already exists: Trash"]
    # deleting a name with inferiors leaves a \Noselect parent
    assert c.cmd("k", "DELETE Job") == [b"k OK Delete completed."]
    assert c.cmd("l", 'LIST "" "Job*"') == [
        b'* LIST (\\Noselect \\HasChildren) "." Job', b'* LIST (\\HasNoChildren) "." Job.Projects',
        b"l OK List completed."]
    assert c.cmd("m", "SELECT Job") == [b"m NO [CANNOT] Mailbox is not selectable: Job"]
    # subscriptions: LSUB's "%" shows an unsubscribed parent as \Noselect (RFC 3501 6.3.9)
    assert c.cmd("n", "SUBSCRIBE Job.Projects") == [b"n OK Subscribe completed."]
    r = c.cmd("o", 'LSUB "" "%"')
    assert b'* LSUB (\\Noselect) "." Job' in r and b'* LSUB () "." INBOX' in r
    assert c.cmd("p", 'LSUB "" "Job.*"') == [b'* LSUB () "." Job.Projects',
                                             b"p OK Lsub completed."]
    assert c.cmd("q", "UNSUBSCRIBE Job.Projects") == [b"q OK Unsubscribe completed."]
    assert c.cmd("r", 'LSUB "" "Job*"') == [b"r OK Lsub completed."]
    # renaming INBOX moves its messages and leaves it empty (RFC 3501 6.3.5)
    deliver(imap, message("one"))
    assert c.cmd("s", "RENAME INBOX Old") == [b"s OK Rename completed."]
    assert c.cmd("t", "STATUS Old (MESSAGES)") == [b"* STATUS Old (MESSAGES 1)",
                                                   b"t OK Status completed."]
    assert c.cmd("u", "STATUS INBOX (MESSAGES UNSEEN RECENT)") == [
        b"* STATUS INBOX (MESSAGES 0 RECENT 0 UNSEEN 0)", b"u OK Status completed."]


def test_status(imap):
    for i in range(3):
        deliver(imap, message("m%d" % i))
    c = login(imap)
    r = c.cmd("a", "STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)")
    assert re.match(rb"\* STATUS INBOX \(MESSAGES 3 RECENT 3 UIDNEXT 4 UIDVALIDITY \d+ "
                    rb"UNSEEN 3\)$", r[0]), r
    assert c.cmd("b", "STATUS INBOX (BOGUS)") == [
        b"b BAD Error in IMAP command STATUS: unknown status item."]
    assert c.cmd("c", "STATUS Nope (MESSAGES)") == [b"c NO [NONEXISTENT] Mailbox doesn't exist: Nope"]


# ---- APPEND --------------------------------------------------------------------

def test_append(imap):
    c = login(imap)
    msg = "Subject: appended\r\n\r\nbody\r\n"
    c.send('a APPEND Drafts (\\Draft $Todo) "07-Feb-1994 21:52:25 -0800" {%d}\r\n' % len(msg))
    assert c.line() == b"+ OK"
    c.send(msg + "\r\n")
    r = c.until_tagged("a")
    assert re.match(rb"a OK \[APPENDUID \d+ 1\] Append completed\.$", r[-1]), r
    select(c, "Drafts")
    assert c.cmd("b", "FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE)") == [
        b'* 1 FETCH (FLAGS (\\Draft \\Recent $Todo) INTERNALDATE "08-Feb-1994 05:52:25 +0000" '
        b'RFC822.SIZE %d)' % len(msg), b"b OK Fetch completed."]
    assert c.cmd("c", "APPEND Nope {3+}\r\nx\r\n") == [
        b"c NO [TRYCREATE] Mailbox doesn't exist: Nope"]
    assert c.cmd("d", "APPEND Drafts {0+}\r\n") == [b"d NO Cannot append an empty message."]
    assert c.cmd("e", 'APPEND Drafts (\\Recent) {1+}\r\nx')[0].startswith(b"e BAD")
    # APPEND to the selected mailbox: the new message shows up before the tagged OK
    r = c.cmd("f", "APPEND Drafts {12+}\r\nSubject: 2\r\n")
    assert r[:2] == [b"* 2 EXISTS", b"* 2 RECENT"] and r[2].startswith(b"f OK [APPENDUID ")


def test_append_20mib_literal(imap):
    """A 20 MiB message: spooled by the reader, streamed into the store and back."""
    c = login(imap)
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ..\r\n"  # 66 bytes
    body = line * (20 * 1024 * 1024 // len(line))
    msg = b"Subject: big\r\n\r\n" + body
    c.send("a APPEND INBOX {%d}\r\n" % len(msg))
    assert c.line() == b"+ OK"
    for i in range(0, len(msg), 1 << 20):
        c.sock.sendall(msg[i:i + (1 << 20)])
    c.send("\r\n")
    assert c.until_tagged("a")[-1].startswith(b"a OK [APPENDUID ")
    select(c)
    assert c.cmd("b", "FETCH 1 RFC822.SIZE") == [b"* 1 FETCH (RFC822.SIZE %d)" % len(msg),
                                                  b"b OK Fetch completed."]
    c.send("c FETCH 1 BODY.PEEK[]<20971000.1000>\r\n")
    r = c.responses("c")
    want = msg[20971000:20972000]
    assert r[0] == b"* 1 FETCH (BODY[]<20971000> {%d}\r\n%s)" % (len(want), want)
    # over message_size_limit: NO [TOOBIG] without reading the data
    c.send("d APPEND INBOX {%d}\r\n" % (31 * 1024 * 1024))
    assert c.line() == b"d NO [TOOBIG] message too big (32505856 bytes, at most 31457280)."


# ---- FETCH ---------------------------------------------------------------------

def fetch_value(c, tag, seq, item):
    """The value of one FETCH item, with CRLF shown as <CRLF> (the corpus notation)."""
    c.send("%s FETCH %d (%s)\r\n" % (tag, seq, item))
    r = c.responses(tag)
    assert r[-1] == tag.encode() + b" OK Fetch completed.", r
    data = r[0]
    prefix = b"* %d FETCH (" % seq
    assert data.startswith(prefix) and data.endswith(b")"), data
    return data[len(prefix):-1].replace(b"\r\n", b"<CRLF>")


def test_mime_corpus_through_the_store(imap):
    """tests/mime/*.eml delivered to a mailbox: FETCH gives the hand-written expected views."""
    names = sorted(glob.glob(os.path.join(MIME, "*.eml")))
    for path in names:
        with open(path, "rb") as f:
            deliver(imap, f.read())
    c = login(imap)
    select(c)
    n = 0
    for seq, path in enumerate(names, 1):
        with open(path[:-4] + ".expected", "rb") as f:
            expected = [l for l in f.read().split(b"\n") if l and not l.startswith(b"#")]
        for line in expected:
            n += 1
            tag = "t%d" % n
            if line.startswith(b"BODY["):
                spec, _, want = line.partition(b"] ")
                got = fetch_value(c, tag, seq, "BODY.PEEK[%s]" % spec[5:].decode())
                assert got.split(b"] ", 1)[1] == want, (path, line)
            else:
                key, _, want = line.partition(b" ")
                got = fetch_value(c, tag, seq, key.decode())
                assert got == key + b" " + want, (path, key)
    assert n > 90
    # the cached ENVELOPE/BODYSTRUCTURE (second time, from the store's cache) are the same
    again = fetch_value(c, "z1", 1, "BODYSTRUCTURE")
    assert again == fetch_value(c, "z2", 1, "BODYSTRUCTURE")


def literal_of(resp, name):
    """The bytes of the literal that follows name in one FETCH response."""
    i = resp.index(name + b" {")
    j = resp.index(b"}\r\n", i)
    n = int(resp[i + len(name) + 2:j])
    return resp[j + 3:j + 3 + n]


def test_whole_message_fetches(imap):
    """BODY[], BODY.PEEK[] (with partials) and RFC822 alone are sent from the file without
    parsing its body: the same bytes as when a BODYSTRUCTURE in the same FETCH makes the
    whole message parsed, and as the CRLF form computed here, for every corpus message and
    for files with CRLF, bare CR, NUL, no final newline and nothing at all."""
    contents = []
    for path in sorted(glob.glob(os.path.join(MIME, "*.eml"))):
        with open(path, "rb") as f:
            contents.append(f.read())
    contents += [b"Subject: crlf\r\n\r\nline\r\nline\r\n", b"Subject: cr\n\na\rb\n",
                 b"Subject: nul\n\na\0b\n", b"Subject: open\n\nno newline",
                 b"Subject: mixed\r\n\nx\r\ny\n", b""]
    for content in contents:
        deliver(imap, content)
    c = login(imap)
    select(c)
    for seq, content in enumerate(contents, 1):
        want = re.sub(rb"(?<!\r)\n", b"\r\n", content).replace(b"\0", b"\x80")
        c.send("a%d FETCH %d BODY.PEEK[]\r\n" % (seq, seq))
        r = c.responses("a%d" % seq)
        if want:
            assert literal_of(r[0], b"BODY[]") == want, seq
        else:
            assert r[0] == b'* %d FETCH (BODY[] "")' % seq, r
        c.send("b%d FETCH %d (BODY.PEEK[] BODYSTRUCTURE RFC822.SIZE)\r\n" % (seq, seq))
        r = c.responses("b%d" % seq)
        if want:
            assert literal_of(r[0], b"BODY[]") == want, seq
        assert b"RFC822.SIZE %d " % len(want) in r[0], (seq, r[0][:200])
        c.send("c%d FETCH %d (BODY.PEEK[]<3.40> RFC822)\r\n" % (seq, seq))
        r = c.responses("c%d" % seq)
        if want[3:43]:
            assert literal_of(r[0], b"BODY[]<3>") == want[3:43], seq
        if want:
            assert literal_of(r[0], b"RFC822") == want, seq
        # RFC822 is not a PEEK: it marks the message \Seen, as any body fetch does
        assert b"FLAGS (\\Seen \\Recent)" in r[0], r[0][:100]
    c.send("d FETCH 1 BODY[]\r\n")
    r = c.responses("d")
    assert literal_of(r[0], b"BODY[]") == re.sub(rb"(?<!\r)\n", b"\r\n", contents[0])


def test_fetch_items_and_seen(imap):
    deliver(imap, message("first", "line one\nline two\n"))
    deliver(imap, message("second"))
    c = login(imap)
    select(c)
    assert c.cmd("a", "FETCH 1 (FLAGS UID)") == [b"* 1 FETCH (UID 1 FLAGS (\\Recent))",
                                                 b"a OK Fetch completed."]
    # a body fetch without PEEK sets \Seen and says so
    c.send("b FETCH 1 BODY[TEXT]\r\n")
    assert c.responses("b") == [
        b"* 1 FETCH (FLAGS (\\Seen \\Recent) BODY[TEXT] {20}\r\nline one\r\nline two\r\n)",
        b"b OK Fetch completed."]
    c.send("c FETCH 1 (BODY[]<0.10> RFC822.HEADER)\r\n")
    r = c.responses("c")
    assert r[0].startswith(b"* 1 FETCH (BODY[]<0> {10}\r\nFrom: Ann  RFC822.HEADER {")
    c.send("d UID FETCH 2 (RFC822.TEXT)\r\n")
    assert c.responses("d") == [
        b"* 2 FETCH (UID 2 FLAGS (\\Seen \\Recent) RFC822.TEXT {7}\r\nhello\r\n)",
        b"d OK Fetch completed."]
    r = c.cmd("e", "FETCH 1:* FAST")
    assert re.match(rb'\* 1 FETCH \(FLAGS \(\\Seen \\Recent\) INTERNALDATE "[^"]+" '
                    rb"RFC822.SIZE \d+\)$", r[0]), r
    r = c.cmd("f", "FETCH 2 FULL")
    assert b" ENVELOPE (" in r[0] and b' BODY ("TEXT" "PLAIN"' in r[0]
    assert c.cmd("g", "UID FETCH 3:* UID") == [b"* 2 FETCH (UID 2)", b"g OK Fetch completed."]
    assert c.cmd("h", "UID FETCH 7 UID") == [b"h OK Fetch completed."]
    assert c.cmd("i", "FETCH 3 UID") == [
        b"i BAD Error in IMAP command FETCH: invalid message number."]
    assert c.cmd("j", "FETCH 1 (BODY[5])") == [b"* 1 FETCH (BODY[5] NIL)",
                                               b"j OK Fetch completed."]
    # EXAMINE never sets \Seen
    deliver(imap, message("third"))
    select(c, verb="EXAMINE", tag="k")
    c.send("l FETCH 3 (BODY[TEXT] FLAGS)\r\n")
    assert c.responses("l")[0] == b"* 3 FETCH (FLAGS () BODY[TEXT] {7}\r\nhello\r\n)"


# ---- STORE and keywords --------------------------------------------------------------

def test_store(imap):
    for i in range(3):
        deliver(imap, message("m%d" % i))
    c = login(imap)
    select(c)
    assert c.cmd("a", "STORE 1:2 +FLAGS (\\Flagged)") == [
        b"* 1 FETCH (FLAGS (\\Flagged \\Recent))", b"* 2 FETCH (FLAGS (\\Flagged \\Recent))",
        b"a OK Store completed."]
    assert c.cmd("b", "STORE 2 -FLAGS (\\Flagged)") == [b"* 2 FETCH (FLAGS (\\Recent))",
                                                        b"b OK Store completed."]
    assert c.cmd("c", "STORE 3 FLAGS.SILENT (\\Answered \\Seen)") == [b"c OK Store completed."]
    assert c.cmd("d", "UID STORE 3 +FLAGS ($Label1)") == [
        b"* FLAGS (" + SYS_FLAGS + b" $Label1)",
        b"* OK [PERMANENTFLAGS (" + SYS_FLAGS + b" $Label1 \\*)] Flags permitted.",
        b"* 3 FETCH (UID 3 FLAGS (\\Answered \\Seen \\Recent $Label1))",
        b"d OK Store completed."]
    assert c.cmd("e", "STORE 1 +FLAGS (\\Recent)") == [
        b"e BAD Error in IMAP command STORE: invalid system flag \\Recent."]
    assert c.cmd("f", "STORE 4 +FLAGS (\\Seen)") == [
        b"f BAD Error in IMAP command STORE: invalid message number."]
    assert c.cmd("g", "SEARCH KEYWORD $label1") == [b"* SEARCH 3", b"g OK Search completed."]
    select(c, verb="EXAMINE", tag="h")
    assert c.cmd("i", "STORE 1 +FLAGS (\\Seen)") == [b"i NO Mailbox is read-only."]


def test_keyword_limit(imap):
    deliver(imap, message("kw"))
    c = login(imap)
    select(c)
    kws = " ".join("kw%02d" % i for i in range(64))
    r = c.cmd("a", "STORE 1 +FLAGS.SILENT (%s)" % kws)
    assert r[-1] == b"a OK Store completed."
    assert r[1].startswith(b"* OK [PERMANENTFLAGS (") and b"\\*" not in r[1]  # full now
    assert c.cmd("b", "STORE 1 +FLAGS (one-more)") == [
        b"b NO [LIMIT] Too many keywords in this mailbox."]


# ---- SEARCH ----------------------------------------------------------------------

def test_search(imap):
    deliver(imap, message("Quarterly report", "numbers inside\n"))
    deliver(imap, "From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.com>\n"
                  "Subject: =?UTF-8?B?w4l0w6kgMjAyNQ==?=\nDate: Sun, 1 Jan 2023 10:00:00 +0000\n"
                  "X-Tag: Special\nContent-Type: text/plain; charset=iso-8859-1\n"
                  "Content-Transfer-Encoding: quoted-printable\n\nGr=FC=DFe aus K=F6ln\n")
    deliver(imap, message("Bigger", "x" * 5000 + "\n"))
    c = login(imap)
    select(c)
    c.cmd("s", "STORE 2 +FLAGS (\\Seen $Work)")
    cases = [
        ("ALL", b"1 2 3"),
        ("SUBJECT report", b"1"),
        (b"SUBJECT {5}\r\n\xc3\x89T\xc3\x89", b"2"),  # RFC 2047, case-folded
        (b"CHARSET UTF-8 FROM {6+}\r\nandr\xc3\xa9", b"2"),
        (b"BODY \"k\xc3\xb6ln\"", b"2"),  # quoted-printable in ISO-8859-1
        ("TEXT numbers", b"1"),
        ("SUBJECT report BODY numbers", b"1"),  # header and body keys in one search
        ("SUBJECT report BODY bigger", b""),
        ("HEADER X-Tag special", b"2"),
        ("HEADER X-Tag \"\"", b"2"),
        ("LARGER 4000", b"3"),
        ("SMALLER 4000", b"1 2"),
        ("SEEN", b"2"),
        ("UNSEEN", b"1 3"),
        ("KEYWORD $Work", b"2"),
        ("UNKEYWORD $Work", b"1 3"),
        ("NEW", b"1 3"),
        ("OLD", b""),
        ("RECENT", b"1 2 3"),
        ("OR SUBJECT bigger FROM andre", b"2 3"),
        ("NOT (SEEN)", b"1 3"),
        ("2:* NOT 3", b"2"),
        ("UID 1,3", b"1 3"),
        ("SENTBEFORE 1-Jan-2000", b"1 3"),
        ("SENTON 1-Jan-2023", b"2"),
        ("SENTSINCE 1-Jan-2000", b"2"),
        ("SINCE 1-Jan-2000", b"1 2 3"),
        ("BEFORE 1-Jan-2000", b""),
        ("ON 1-Jan-2000 OR DELETED ANSWERED", b""),
        ("TO joe CC nobody", b""),
        ("BCC x", b""),
    ]
    for i, (keys, want) in enumerate(cases):
        tag = "q%d" % i
        keys = keys.encode() if isinstance(keys, str) else keys
        c.send(b"%s SEARCH %s\r\n" % (tag.encode(), keys))
        if re.search(rb"\{\d+\}\r\n", keys):
            pass  # the "+ OK" continuation comes before the results
        r = [l for l in c.until_tagged(tag) if l != b"+ OK"]
        assert r == [b"* SEARCH" + (b" " + want if want else b""),
                     tag.encode() + b" OK Search completed."], (keys, r)
    assert c.cmd("u", "UID SEARCH SUBJECT bigger") == [b"* SEARCH 3", b"u OK Search completed."]
    assert c.cmd("v", "SEARCH CHARSET BIG5 ALL") == [
        b"v NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset."]
    assert c.cmd("w", "SEARCH FOO")[0] == b"w BAD Error in IMAP command SEARCH: unknown search key."


def test_search_header_summary(imap):
    """SUBJECT/FROM/TO/CC/BCC/SENT* answer from the cached search summary: the same answers
    before anything is cached, from a cache without summaries, after FETCH ENVELOPE (which
    makes them), and after the cache is lost, and the same as HEADER on the field."""
    deliver(imap, "From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.com>\n"
                  "Subject: =?UTF-8?B?w4l0w6kgMjAyNQ==?= report\n"
                  "To: Team: alice@example.com, \"Bob (B) Smith\" <bob@example.org>;,\n"
                  " carol@example.net (Carol in comment)\n"
                  "Cc: undisclosed-recipients:;\n"
                  "Date: Mon, 2 Jan 2006 23:30:00 -0800\n\nbody\n")
    deliver(imap, "Subject: first\nSubject: =?utf-8?q?Zw=C3=A9ite_Betreff?=\n"
                  "To: x@example.com\nTO: \"Y\" <y@example.com>\nBcc:\n"
                  "X-Other: report\n\nhello\n")
    deliver(imap, "Date: someday\nSubject: a folded\n\tline\nFrom: Zed <zed@example.com>\n"
                  "Cc: =?utf-8?q?J=C3=BCrgen?= <j@example.de>, k@example.de\n\nx\n")
    cases = [
        ("SUBJECT report", b"1"),
        (b"SUBJECT {5}\r\n\xc3\x89T\xc3\x89", b"1"),
        (b"SUBJECT {7+}\r\nzw\xc3\xa9ite", b"2"),  # the second Subject field (ENVELOPE: the first)
        ("SUBJECT first", b"2"),
        ("SUBJECT \"a folded\" SUBJECT line", b"3"),  # unfolded
        ("SUBJECT \"\"", b"1 2 3"),
        (b"FROM {6+}\r\nandr\xc3\xa9", b"1"),
        ("FROM \"zed <zed@\"", b"3"),  # display name and address as written
        ("TO \"team:\"", b"1"),  # group syntax
        ("TO \"bob (b) smith\"", b"1"),
        ("TO \"in comment\"", b"1"),  # a comment
        ("TO y@example", b"2"),  # the second To field
        ("TO \"\"", b"1 2"),
        ("CC undisclosed", b"1"),
        (b"CC {7+}\r\nj\xc3\xbcrgen", b"3"),
        ("CC \"k@example.de\"", b"3"),
        ("BCC \"\"", b"2"),
        (b"HEADER Subject {7+}\r\nzw\xc3\xa9ite", b"2"),
        ("HEADER X-Other report", b"2"),
        ("OR HEADER X-Other report SUBJECT report", b"1 2"),
        ("SENTON 2-Jan-2006", b"1"),  # the Date's own day, not UTC's 3-Jan
        ("SENTBEFORE 3-Jan-2006", b"1"),
        ("SENTSINCE 1-Jan-2000", b"1 2 3"),  # no usable Date: the internal date stands in
        ("NOT TO bob SUBJECT \"\"", b"2 3"),
    ]

    def run(c, when):
        for i, (keys, want) in enumerate(cases):
            tag = "q%d" % i
            keys = keys.encode() if isinstance(keys, str) else keys
            c.send(b"%s SEARCH CHARSET UTF-8 %s\r\n" % (tag.encode(), keys))
            r = [l for l in c.until_tagged(tag) if l != b"+ OK"]
            assert r == [b"* SEARCH" + (b" " + want if want else b""),
                         tag.encode() + b" OK Search completed."], (when, keys, r)

    cache = os.path.join(maildir(imap, JOE), "petrel.cache")
    c = login(imap)
    select(c)
    run(c, "nothing cached")
    c.cmd("l", "LOGOUT")
    os.unlink(cache)
    c = login(imap)
    select(c)
    assert c.cmd("b", "FETCH 1:* BODYSTRUCTURE")[-1] == b"b OK Fetch completed."
    assert os.path.exists(cache)
    run(c, "a cache without summaries")
    run(c, "summaries from SEARCH")
    c.cmd("l", "LOGOUT")
    os.unlink(cache)
    c = login(imap)
    select(c)
    assert c.cmd("e", "FETCH 1:* ENVELOPE")[-1] == b"e OK Fetch completed."
    run(c, "summaries from FETCH ENVELOPE")
    c.cmd("l", "LOGOUT")


# ---- COPY, MOVE, EXPUNGE, CLOSE ---------------------------------------------------

def test_copy_move_expunge_close(imap):
    for i in range(5):
        deliver(imap, message("m%d" % i))
    c = login(imap)
    select(c)
    r = c.cmd("a", "COPY 2:3 Archive")
    m = re.match(rb"a OK \[COPYUID (\d+) 2:3 1:2\] Copy completed\.$", r[-1])
    assert m, r
    assert c.cmd("b", "COPY 1 Nowhere") == [b"b NO [TRYCREATE] Mailbox doesn't exist: Nowhere"]
    r = c.cmd("c", "UID MOVE 4 Trash")
    assert re.match(rb"\* OK \[COPYUID \d+ 4 1\] Moved UIDs\.$", r[0]), r
    assert r[1:] == [b"* 4 EXPUNGE", b"c OK Move completed."]
    assert c.cmd("d", "STORE 1,3 +FLAGS.SILENT (\\Deleted)") == [b"d OK Store completed."]
    # UID EXPUNGE removes only the named \Deleted messages (RFC 4315)
    assert c.cmd("e", "UID EXPUNGE 3:5") == [b"* 3 EXPUNGE", b"e OK Expunge completed."]
    assert c.cmd("f", "FETCH 1:* UID") == [b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 2)",
                                           b"* 3 FETCH (UID 5)", b"f OK Fetch completed."]
    assert c.cmd("g", "STORE 3 +FLAGS.SILENT (\\Deleted)") == [b"g OK Store completed."]
    # UIDs 1 and 5 (numbers 1 and 3) have \Deleted: each EXPUNGE number valid when sent
    r = c.cmd("h", "EXPUNGE")
    assert r in ([b"* 3 EXPUNGE", b"* 1 EXPUNGE", b"h OK Expunge completed."],
                 [b"* 1 EXPUNGE", b"* 2 EXPUNGE", b"h OK Expunge completed."]), r
    r = c.cmd("h2", "FETCH 1:* UID")
    assert r == [b"* 1 FETCH (UID 2)", b"h2 OK Fetch completed."]
    # CLOSE expunges silently; UNSELECT does not
    assert c.cmd("i", "STORE 1 +FLAGS.SILENT (\\Deleted)") == [b"i OK Store completed."]
    assert c.cmd("j", "UNSELECT") == [b"j OK Unselect completed."]
    assert c.cmd("k", "STATUS INBOX (MESSAGES)") == [b"* STATUS INBOX (MESSAGES 1)",
                                                     b"k OK Status completed."]
    select(c)
    assert c.cmd("l", "CLOSE") == [b"l OK Close completed."]
    assert c.cmd("m", "STATUS INBOX (MESSAGES)") == [b"* STATUS INBOX (MESSAGES 0)",
                                                     b"m OK Status completed."]
    assert c.cmd("n", "STATUS Archive (MESSAGES)") == [b"* STATUS Archive (MESSAGES 2)",
                                                       b"n OK Status completed."]
    # EXAMINE: nothing may change
    select(c, "Archive", verb="EXAMINE")
    assert c.cmd("o", "EXPUNGE") == [b"o NO Mailbox is read-only."]
    assert c.cmd("p", "MOVE 1 Trash") == [b"p NO Mailbox is read-only."]


def test_expunge_order(imap):
    for i in range(4):
        deliver(imap, message("m%d" % i))
    c = login(imap)
    select(c)
    assert c.cmd("a", "STORE 1,3,4 +FLAGS.SILENT (\\Deleted)") == [b"a OK Store completed."]
    r = c.cmd("b", "EXPUNGE")
    # each number is valid when sent: 1,3,4 of four go as 3 3 1, 4 3 1 or 1 2 2
    seqs = [int(l.split()[1]) for l in r[:-1]]
    left = [1, 2, 3, 4]
    for n in seqs:
        del left[n - 1]
    assert left == [2] and r[-1] == b"b OK Expunge completed."


# ---- several sessions ----------------------------------------------------------------

def test_concurrent_sessions_untagged_updates(imap):
    for i in range(5):
        deliver(imap, message("m%d" % i))
    a, b, c3 = login(imap), login(imap), login(imap)
    select(a, tag="A")
    select(b, tag="B")
    select(c3, tag="C")
    # session a expunges message 2
    assert a.cmd("a1", "STORE 2 +FLAGS.SILENT (\\Deleted)") == [b"a1 OK Store completed."]
    assert a.cmd("a2", "EXPUNGE") == [b"* 2 EXPUNGE", b"a2 OK Expunge completed."]
    # b fetches: no EXPUNGE during FETCH (RFC 3501 7.4.1); what the index still knows of
    # the vanished message is answered, its content is not
    r = b.cmd("b1", "FETCH 1:5 (UID)")
    assert r == [b"* %d FETCH (UID %d)" % (i, i) for i in range(1, 6)] + [
        b"b1 OK Fetch completed."]
    r = b.cmd("b1b", "FETCH 1:3 (BODY.PEEK[TEXT])")
    assert not [l for l in r if re.match(rb"\* \d+ EXPUNGE", l)]
    assert r[-1] == b"b1b NO [EXPUNGEISSUED] Some of the requested messages no longer exist."
    r = b.cmd("b2", "STORE 2 +FLAGS (\\Flagged)")
    assert not [l for l in r if re.match(rb"\* \d+ EXPUNGE", l)]
    assert r == [b"b2 NO [EXPUNGEISSUED] Some of the messages no longer exist."]
    r = b.cmd("b3", "SEARCH ALL")
    assert r == [b"* SEARCH 1 3 4 5", b"b3 OK Search completed."]
    # a command that may expunge brings the news, then the numbers are renumbered
    assert b.cmd("b4", "NOOP") == [b"* 2 EXPUNGE", b"b4 OK NOOP completed."]
    assert b.cmd("b5", "FETCH 2 UID") == [b"* 2 FETCH (UID 3)", b"b5 OK Fetch completed."]
    # a's flag change reaches c as an untagged FETCH; c also hears of the expunge
    assert a.cmd("a3", "STORE 1 +FLAGS.SILENT (\\Answered)") == [b"a3 OK Store completed."]
    assert c3.cmd("c1", "NOOP") == [b"* 2 EXPUNGE", b"* 1 FETCH (FLAGS (\\Answered))",
                                    b"c1 OK NOOP completed."]
    # new mail: EXISTS and RECENT on the next command
    deliver(imap, message("late"))
    assert b.cmd("b6", "NOOP") == [b"* 5 EXISTS", b"* 1 RECENT",
                                   b"* 1 FETCH (FLAGS (\\Answered))", b"b6 OK NOOP completed."]


def test_idle_sees_delivery_and_expunge(imap):
    deliver(imap, message("first"))
    w, other = login(imap), login(imap)
    select(w)
    select(other)
    w.send("i IDLE\r\n")
    assert w.line() == b"+ idling"
    deliver(imap, message("during idle"))
    assert w.line() == b"* 2 EXISTS"
    assert w.line() == b"* 2 RECENT"  # both are recent to this session
    # another session's changes arrive as they happen: the flag, then the expunge
    assert other.cmd("o1", "STORE 1 +FLAGS.SILENT (\\Deleted)")[-1] == b"o1 OK Store completed."
    assert w.line() == b"* 1 FETCH (FLAGS (\\Deleted \\Recent))"
    assert other.cmd("o2", "EXPUNGE")[-1] == b"o2 OK Expunge completed."
    assert w.line() == b"* 1 EXPUNGE"
    w.send("DONE\r\n")
    assert w.line() == b"i OK Idle completed."


# ---- imaplib -----------------------------------------------------------------------

def test_imaplib_session(imap):
    deliver(imap, message("from the store"))
    m = imaplib.IMAP4("127.0.0.1", imap.imap_port)
    m.login(JOE, JOE_PW)
    typ, data = m.list()
    assert typ == "OK" and b'(\\HasNoChildren \\Sent) "." Sent' in data
    assert m.create("Reports")[0] == "OK"
    assert m.append("Reports", "(\\Seen)", imaplib.Time2Internaldate(time.time()),
                    b"Subject: via imaplib\r\n\r\nhi\r\n")[0] == "OK"
    typ, data = m.select("INBOX")
    assert (typ, data) == ("OK", [b"1"])
    typ, data = m.search(None, "SUBJECT", "store")
    assert data == [b"1"]
    typ, data = m.fetch("1", "(ENVELOPE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert data[0][1] == b"Subject: from the store\r\n\r\n"
    typ, data = m.uid("COPY", "1", "Reports")
    assert typ == "OK"
    assert m.store("1", "+FLAGS", "\\Deleted")[0] == "OK"
    typ, data = m.expunge()
    assert data == [b"1"]
    m.select("Reports", readonly=True)
    typ, data = m.fetch("1:*", "(FLAGS)")
    assert data == [b"1 (FLAGS (\\Seen))", b"2 (FLAGS ())"]
    assert m.close()[0] == "OK"
    assert m.logout()[0] == "BYE"
    assert sorted(os.listdir(os.path.join(maildir(imap, folder="Reports"), "cur")))


def test_idle_wakes_at_once(instances):
    """With the store's inotify watch IDLE needs no polling: a delivery is reported at once."""
    imap = imapd_instance(instances, main_cf={"imapd_idle_check_interval": "600s"})
    w = login(imap)
    select(w)
    w.send("i IDLE\r\n")
    assert w.line() == b"+ idling"
    start = time.time()
    deliver(imap, message("wake up"))
    assert w.line() == b"* 1 EXISTS"
    assert w.line() == b"* 1 RECENT"
    assert time.time() - start < 5
    w.send("DONE\r\n")
    assert w.line() == b"i OK Idle completed."
