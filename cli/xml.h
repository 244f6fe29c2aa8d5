/* Text into XML (SVG) output. */
#ifndef OTP_CLI_XML_H
#define OTP_CLI_XML_H

#include <stdio.h>

/* Writes s escaped for XML text and attribute values; bytes that are not
 * valid UTF-8, and control characters, become '?', so any symbol name
 * keeps the document well-formed. */
void otp_xml_puts(FILE *out, const char *s);
/* The same for at most n characters of s, then ".." if s was longer. */
void otp_xml_puts_cut(FILE *out, const char *s, size_t n);

#endif
