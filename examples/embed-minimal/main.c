/* Placeholder until the minimal embedding example lands (this session). */
#include <nestvmx/nestvmx.h>
#include <stdio.h>
int main(void)
{
    printf("libnestvmx %u.%u.%u\n", NVMX_VERSION_MAJOR, NVMX_VERSION_MINOR, NVMX_VERSION_PATCH);
    return 0;
}
