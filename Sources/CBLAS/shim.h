#include <cblas.h>
#include <malloc.h>
