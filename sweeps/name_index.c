#include "name_index.h"
#include <stdlib.h>
#include <string.h>
#include "trial_id.h"
#include "util.h"

/* The slot that holds name, or the empty slot where it would go. */
static size_t slot_of(const NameIndex *ix, const char *name)
{
    size_t i = (size_t)trial_hash(name) & ix->mask;
    while (ix->names[i] && strcmp(ix->names[i], name)) i = (i + 1) & ix->mask;
    return i;
}

int name_index_find(const NameIndex *ix, const char *name)
{
    if (!ix->names) return -1;
    size_t i = slot_of(ix, name);
    return ix->names[i] ? ix->values[i] : -1;
}

/* Twice the slots (16 at first), every name moved to its new slot. */
static void grow(NameIndex *ix)
{
    NameIndex bigger = {.mask = ix->names ? 2 * ix->mask + 1 : 15, .count = ix->count};
    bigger.names = xcalloc(bigger.mask + 1, sizeof *bigger.names);
    bigger.values = xcalloc(bigger.mask + 1, sizeof *bigger.values);
    for (size_t i = 0; ix->names && i <= ix->mask; i++)
        if (ix->names[i]) {
            size_t to = slot_of(&bigger, ix->names[i]);
            bigger.names[to] = ix->names[i];
            bigger.values[to] = ix->values[i];
        }
    free(ix->names);
    free(ix->values);
    *ix = bigger;
}

void name_index_add(NameIndex *ix, const char *name, int value)
{
    if (!ix->names || 2 * (ix->count + 1) > ix->mask + 1) grow(ix);   /* at most half full */
    size_t i = slot_of(ix, name);
    if (!ix->names[i]) {
        size_t bytes = strlen(name) + 1;
        ix->names[i] = memcpy(xmalloc(bytes), name, bytes);
        ix->count++;
    }
    ix->values[i] = value;
}

void name_index_free(NameIndex *ix)
{
    for (size_t i = 0; ix->names && i <= ix->mask; i++) free(ix->names[i]);
    free(ix->names);
    free(ix->values);
    memset(ix, 0, sizeof *ix);
}
