/* uuid.h - random (version 4) UUIDs from OpenSSL's generator: session
 * and event IDs. */
#ifndef CAIRN_UUID_H
#define CAIRN_UUID_H

/* uuid4 - out gets "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" and a NUL.
 * Returns 0, or -EIO when no randomness is available (out is then
 * unusable). */
int uuid4(char out[37]);

#endif
