#include "xml.h"

#include <string.h>

/* Length of the valid UTF-8 sequence at s, 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n = (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (n == 2 && s[0] < 0xc2)
        return 0; /* overlong */
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

void otp_xml_puts_cut(FILE *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t chars = 0;
    while (*p) {
        if (chars == n) {
            fputs("..", out);
            return;
        }
        size_t l = utf8_len(p);
        if (l == 0 || (l == 1 && *p < 0x20 && *p != '\t')) {
            fputc('?', out);
            p++;
        } else if (l > 1) {
            fwrite(p, 1, l, out);
            p += l;
        } else {
            switch (*p) {
            case '<': fputs("&lt;", out); break;
            case '>': fputs("&gt;", out); break;
            case '&': fputs("&amp;", out); break;
            case '"': fputs("&quot;", out); break;
            case '\'': fputs("&apos;", out); break;
            default: fputc(*p, out);
            }
            p++;
        }
        chars++;
    }
}

void otp_xml_puts(FILE *out, const char *s)
{
    otp_xml_puts_cut(out, s, (size_t)-1);
}
