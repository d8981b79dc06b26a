/*
 * mlm-bench-setup.c - what the options turn into before the threads
 * start: the milter's socket address, the message template (headers, body,
 * recipients) and the --stages mask. Bad input is fatal.
 *
 * Owns: the target and the template, read-only once threads start.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "mlm-bench.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

const char *const smtp_stage_names[SS__COUNT] = {
    "connect", "helo", "mail", "rcpt", "data"};

struct target tgt;
struct header *headers;
size_t nheaders;
int headers_have_msgid;
unsigned char *body;
char **rcpt_addrs;


/* libmilter syntax: unix:/path, local:/path, /path, inet:PORT@HOST,
 * inet6:PORT@HOST (HOST defaults to localhost). */
void target_parse(const char *spec)
{
    memset(&tgt, 0, sizeof tgt);
    const char *path = NULL;
    if (strncmp(spec, "unix:", 5) == 0)
        path = spec + 5;
    else if (strncmp(spec, "local:", 6) == 0)
        path = spec + 6;
    else if (spec[0] == '/')
        path = spec;
    if (path) {
        struct sockaddr_un *sun = (struct sockaddr_un *)&tgt.addr;
        if (strlen(path) >= sizeof sun->sun_path)
            fatal("socket path too long: %s", path);
        sun->sun_family = AF_UNIX;
        strcpy(sun->sun_path, path);
        tgt.addrlen = sizeof *sun;
        tgt.family = AF_UNIX;
        tgt.is_unix = 1;
        return;
    }
    int family;
    const char *rest;
    if (strncmp(spec, "inet:", 5) == 0)
        family = AF_INET, rest = spec + 5;
    else if (strncmp(spec, "inet6:", 6) == 0)
        family = AF_INET6, rest = spec + 6;
    else
        fatal("bad socket \"%s\": want unix:/path or inet:PORT@HOST", spec);
    char port[32];
    const char *at = strchr(rest, '@');
    const char *host = at ? at + 1 : (family == AF_INET ? "127.0.0.1" : "::1");
    size_t plen = at ? (size_t)(at - rest) : strlen(rest);
    if (plen == 0 || plen >= sizeof port)
        fatal("bad port in \"%s\"", spec);
    memcpy(port, rest, plen);
    port[plen] = '\0';
    if (host[0] == '[') { /* inet6:PORT@[::1] */
        static char h[256];
        snprintf(h, sizeof h, "%s", host + 1);
        char *e = strchr(h, ']');
        if (e)
            *e = '\0';
        host = h;
    }
    struct addrinfo hints = {.ai_family = family, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0)
        fatal("cannot resolve %s port %s: %s", host, port, gai_strerror(rc));
    memcpy(&tgt.addr, ai->ai_addr, ai->ai_addrlen);
    tgt.addrlen = ai->ai_addrlen;
    tgt.family = ai->ai_family;
    freeaddrinfo(ai);
}

/* Append one header to the message template. */
static void header_push(const char *name, const char *raw)
{
    headers = xrealloc(headers, (nheaders + 1) * sizeof *headers);
    headers[nheaders].name = xstrdup(name);
    headers[nheaders].raw_value = xstrdup(raw);
    if (strcasecmp(name, "Message-ID") == 0)
        headers_have_msgid = 1;
    nheaders++;
}

/* Headers from FILE ("Name: value", folded lines kept with LF), up to the
 * first empty line. Without FILE: a plain list post. */
void headers_load(const char *file)
{
    if (file == NULL) {
        char buf[1100];
        snprintf(buf, sizeof buf, " Bench Sender <%s>", opt.sender);
        header_push("From", buf);
        snprintf(buf, sizeof buf, " <%s>", opt.first_rcpt);
        header_push("To", buf);
        header_push("Subject", " mlm-bench message");
        header_push("Date", " Mon, 1 Jan 2024 00:00:00 +0000");
        header_push("MIME-Version", " 1.0");
        header_push("Content-Type", " text/plain; charset=us-ascii");
        return;
    }
    FILE *fp = fopen(file, "r");
    if (fp == NULL)
        fatal("%s: %s", file, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0;
    while ((n = getline(&line, &cap, fp)) != -1) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            break;
        if (line[0] == ' ' || line[0] == '\t') {
            if (nheaders == 0)
                fatal("%s:%d: continuation line before any header", file,
                      lineno);
            struct header *h = &headers[nheaders - 1];
            size_t old = strlen(h->raw_value);
            h->raw_value = xrealloc(h->raw_value, old + 1 + (size_t)n + 1);
            h->raw_value[old] = '\n';
            memcpy(h->raw_value + old + 1, line, (size_t)n + 1);
            continue;
        }
        char *colon = strchr(line, ':');
        if (colon == NULL || colon == line)
            fatal("%s:%d: not a header line", file, lineno);
        *colon = '\0';
        header_push(line, colon + 1);
    }
    free(line);
    fclose(fp);
    if (nheaders == 0)
        fatal("%s: no headers", file);
}

/* A body of exactly opt.body_size bytes of CRLF-ended text lines. */
void body_build(void)
{
    body = xmalloc(opt.body_size);
    size_t off = 0;
    for (unsigned line = 1; off < opt.body_size; line++) {
        char buf[100];
        int n = snprintf(buf, sizeof buf, "Line %06u of the mlm-bench body: "
                         "the quick brown fox jumps over the lazy dog.\r\n",
                         line);
        size_t take = opt.body_size - off < (size_t)n ? opt.body_size - off
                                                      : (size_t)n;
        memcpy(body + off, buf, take);
        off += take;
    }
    if (opt.body_size >= 2)
        memcpy(body + opt.body_size - 2, "\r\n", 2);
}

/* The body of message FILE (-M): everything after the first empty line,
 * each line sent CRLF-ended as an MTA hands it to a milter. Replaces the
 * built-in body and -m. */
void body_load(const char *file)
{
    FILE *fp = fopen(file, "r");
    if (fp == NULL)
        fatal("%s: %s", file, strerror(errno));
    char *line = NULL;
    size_t cap = 0, len = 0, room = 4096;
    ssize_t n;
    int in_body = 0;
    free(body);
    body = xmalloc(room);
    while ((n = getline(&line, &cap, fp)) != -1) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (!in_body) {
            in_body = n == 0;
            continue;
        }
        while (len + (size_t)n + 2 > room)
            body = xrealloc(body, room *= 2);
        memcpy(body + len, line, (size_t)n);
        memcpy(body + len + n, "\r\n", 2);
        len += (size_t)n + 2;
    }
    free(line);
    fclose(fp);
    opt.body_size = len;
}

/* "<first>" from -t, then "<memberN@bench.test>" up to -R addresses. */
void recipients_build(void)
{
    rcpt_addrs = xmalloc((size_t)opt.recipients * sizeof *rcpt_addrs);
    for (int i = 0; i < opt.recipients; i++) {
        char buf[1100];
        if (i == 0)
            snprintf(buf, sizeof buf, "<%s>", opt.first_rcpt);
        else
            snprintf(buf, sizeof buf, "<member%d@bench.test>", i);
        rcpt_addrs[i] = xstrdup(buf);
    }
}

/* Release the message template (at exit, for leak checkers). */
void template_free(void)
{
    for (size_t i = 0; i < nheaders; i++) {
        free(headers[i].name);
        free(headers[i].raw_value);
    }
    free(headers);
    for (int i = 0; i < opt.recipients; i++)
        free(rcpt_addrs[i]);
    free(rcpt_addrs);
    free(body);
}

/* "connect,helo,..." to a mask of SS_BIT()s; bad names are fatal. */
unsigned stages_parse(const char *list)
{
    unsigned mask = 0;
    char *copy = xstrdup(list), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "all") == 0) {
            mask |= SS_ALL;
            continue;
        }
        int found = 0;
        for (int s = 0; s < SS__COUNT; s++)
            if (strcmp(tok, smtp_stage_names[s]) == 0)
                mask |= SS_BIT(s), found = 1;
        if (!found)
            fatal("unknown stage \"%s\" (connect, helo, mail, rcpt, data)",
                  tok);
    }
    free(copy);
    if (mask == 0)
        fatal("--stages: no stage");
    return mask;
}
