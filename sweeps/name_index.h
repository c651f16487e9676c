/* Strings, each with an int: the lookups by name of a sweep file (sections,
 * keys, axes) and of its problem list. Open addressing on the FNV-1a hash,
 * so reading a file of N names takes O(N) steps, not O(N^2). */
#ifndef SWEEPRUN_NAME_INDEX_H
#define SWEEPRUN_NAME_INDEX_H
#include <stddef.h>

/* A zeroed NameIndex is empty and ready. */
typedef struct NameIndex {
    char **names;                 /* per slot: an owned copy, or NULL (empty) */
    int *values;
    size_t mask;                  /* slots - 1 (no slots yet: names == NULL) */
    size_t count;
} NameIndex;

/* The value stored for name, or -1 when name is not in the index. */
int name_index_find(const NameIndex *ix, const char *name);
/* Store name -> value (a name already there gets the new value). */
void name_index_add(NameIndex *ix, const char *name, int value);
void name_index_free(NameIndex *ix);

#endif
