/* Compiled against the installed header and library only. */
#include <stdio.h>
#include <tricolor.h>

static const tc_type box_type = {.name = "box", .layout = TC_LAYOUT_SLOTS};

int main(void)
{
    if (tc_init(NULL) != 0)
        return 1;
    void **box = tc_alloc(&box_type, 2 * sizeof(void *));
    TC_ROOTS(box);
    void *inner = tc_alloc(&box_type, 16);
    tc_write(box, &box[0], inner);
    tc_collect();
    tc_stats st;
    tc_read_stats(&st);
    int ok = st.cycles == 1 && st.objects_live == 2 && tc_type_of(box[0]) == &box_type;
    printf("consumer: %s\n", ok ? "ok" : "FAILED");
    tc_shutdown();
    return ok ? 0 : 1;
}
