/* Wine 8.0 lacks ProcessPrng (bcryptprimitives.dll), which Rust's standard library imports
 * since 1.78 and every Windows 10+ has. The Wine test lane builds this with Debian's MinGW
 * and copies it into the test prefix's system32; it is never shipped. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length); /* RtlGenRandom */

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
