/* An object that breaks the freestanding rule on purpose: check-symbols.sh must reject it. */
#include <stdio.h>
void symbols_violation(void);
void symbols_violation(void)
{
    printf("lib/ must never call libc\n");
}
