/* qforge CLI entry point (placeholder until commands land). */
#include <stdio.h>
int main(void) { puts("qforge " QF_VERSION); return 0; }
