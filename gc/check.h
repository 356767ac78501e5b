/*
 * check.h — assertions and the checking build.
 *
 * Two kinds of check, in the manner of the MPS:
 *
 *   TC_ASSERT(cond)    an invariant.  Compiled only in the checking build
 *                      (TC_CHECKING: Debug and sanitizer builds, or
 *                      -DTRICOLOR_CHECKING=ON); free in a release build.
 *   TC_REQUIRE(cond)   a check that stays on in every build, for the few
 *                      places where a broken invariant would go on to
 *                      corrupt memory (a span swept twice, a list linked
 *                      into itself).  Keep it cheap: a compare and a
 *                      predictable branch.
 *
 * Both abort with one line naming the file, the line and the condition.
 * Structures have check functions (span_check, central_check, ...) that
 * TC_ASSERT calls; they return 1 so that `TC_ASSERT(span_check(s))`
 * reads as what it is.
 *
 * The test hooks (fault injection, holds, query functions only the tests
 * use) are compiled only under TC_TESTING, into the library variant the
 * tests link (tests/CMakeLists.txt); the installed libraries have none.
 */
#ifndef TC_CHECK_H
#define TC_CHECK_H

#include "namespace.h"

#include "platform.h"

#define TC_REQUIRE(cond)                                                      \
    ((cond) ? (void)0                                                         \
            : plat_fatal("internal error: %s:%d: %s does not hold (please report "  \
                         "it)", __FILE__, __LINE__, #cond))

#ifdef TC_CHECKING
#define TC_ASSERT(cond) TC_REQUIRE(cond)
#define TC_CHECKING_ON 1
#else
#define TC_ASSERT(cond) ((void)sizeof(!(cond)))
#define TC_CHECKING_ON 0
#endif

#endif
