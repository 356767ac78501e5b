#!/usr/bin/env bash
# check_snippets.sh DOC ROOT CC LIBTRICOLOR sanitize=KIND [CFLAG...]
#
# Compile every ```c block of the markdown file DOC (docs/embedding.md).
# The line right before each block must be an HTML comment saying what the
# block is:
#
#   <!-- snippet: program [run] [racy] [env=VAR=VALUE]... [status=abort] [output=next] -->
#       a complete program: compiled and linked with LIBTRICOLOR.  run: run
#       it; it must exit 0, or die of SIGABRT with status=abort.
#       output=next: what it prints (stdout and stderr) must equal the next
#       ```text block, hexadecimal addresses aside.  racy: it has data
#       races on purpose, so it is not run under ThreadSanitizer.
#   <!-- snippet: unit [name=NAME] -->
#       a translation unit of its own, compiled (-c).
#   <!-- snippet: fragment [uses=NAME[,NAME...]] -->
#       statements: compiled inside a function, after the named units.
#   <!-- snippet: excerpt=PATH -->
#       a verbatim excerpt of PATH (relative to ROOT): the block must still
#       be found, character for character, in that file, and the file must
#       compile.
#
# CFLAGs are the build's warning and sanitizer flags (-Werror included).
# Prints one line per block; exits 1 if any block fails.
set -uo pipefail
doc=$1 root=$2 cc=$3 lib=$4 sanitize=${5#sanitize=}
shift 5
cflags=(-std=gnu11 "$@" -I"$root/include")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Split DOC into $tmp/N.c (the code), $tmp/N.meta (line and directive) and
# $tmp/N.out (the ```text block after an output=next program).
awk -v tmp="$tmp" '
  /^<!-- snippet:/ { directive = $0; dline = NR; next }
  /^```c[ \t]*$/ {
    n++
    meta = (dline == NR - 1) ? directive : ""
    sub(/^<!-- snippet: */, "", meta); sub(/ *-->.*$/, "", meta)
    print NR " " meta > (tmp "/" n ".meta"); close(tmp "/" n ".meta")
    printf "" > (tmp "/" n ".c")
    if (meta ~ /(^| )output=next( |$)/) want_out = n
    incode = 1; next
  }
  incode && /^```[ \t]*$/ { incode = 0; close(tmp "/" n ".c"); next }
  incode { print > (tmp "/" n ".c"); next }
  /^```text[ \t]*$/ && want_out {
    out = tmp "/" want_out ".out"; printf "" > out; want_out = 0; intext = 1; next
  }
  intext && /^```[ \t]*$/ { intext = 0; close(out); next }
  intext { print > out; next }
  END { print n + 0 > (tmp "/count") }
' "$doc"

count=$(cat "$tmp/count")
if [ "$count" -eq 0 ]; then
  echo "FAIL: no \`\`\`c block found in $doc"
  exit 1
fi

failures=0
declare -A unit_of   # unit name -> its .c file
declare -A compiled  # excerpt file -> 0 (compiles) or 1

fail() { echo "FAIL: $doc:$line: $*"; failures=$((failures + 1)); }

# compile_file SRC [extra flags...]: compile SRC (-fsyntax-only), show errors.
compile_file() {
  local src=$1; shift
  if ! "$cc" "${cflags[@]}" "$@" -fsyntax-only "$src" 2>"$tmp/errors"; then
    sed 's/^/    /' "$tmp/errors"
    return 1
  fi
}

# A file named by an excerpt compiles (a header: included by a file of its own).
compile_excerpt_source() {
  local path=$1 dir
  dir=$(dirname "$root/$path")
  if [ -z "${compiled[$path]+set}" ]; then
    if [[ "$path" == *.h ]]; then
      printf '#include "%s"\n' "$root/$path" >"$tmp/header.c"
      compile_file "$tmp/header.c" -I"$dir"
    else
      compile_file "$root/$path" -I"$dir"
    fi
    compiled[$path]=$?
  fi
  return "${compiled[$path]}"
}

check_program() {
  local i=$1 meta=$2 run=0 racy=0 status=0 want_output=0 envs=() word
  for word in $meta; do
    case "$word" in
      run) run=1 ;;
      racy) racy=1 ;;
      env=*) envs+=("${word#env=}") ;;
      status=abort) status=134 ;;
      output=next) want_output=1 ;;
      program) ;;
      *) fail "unknown program option '$word'"; return ;;
    esac
  done
  if ! "$cc" "${cflags[@]}" -o "$tmp/prog$i" "$tmp/$i.c" "$lib" -lpthread 2>"$tmp/errors"; then
    sed 's/^/    /' "$tmp/errors"
    fail "the program does not compile and link"
    return
  fi
  if [ "$run" -eq 0 ] || { [ "$racy" -eq 1 ] && [ "$sanitize" = thread ]; }; then
    echo "ok: $doc:$line: program compiles and links"
    return
  fi
  # In a subshell whose stderr is dropped: bash reports a child killed by a
  # signal ("Aborted") there.  (Not its last command: it would exec it.)
  (env "${envs[@]}" "$tmp/prog$i" >"$tmp/actual" 2>&1; exit $?) 2>/dev/null
  local rc=$?
  if [ "$rc" -ne "$status" ]; then
    sed 's/^/    /' "$tmp/actual"
    fail "the program exited with status $rc, expected $status"
    return
  fi
  if [ "$want_output" -eq 1 ]; then
    if [ ! -f "$tmp/$i.out" ]; then
      fail "output=next, but no \`\`\`text block follows"
      return
    fi
    sed -E 's/0x[0-9a-f]+/0xADDRESS/g' "$tmp/$i.out" >"$tmp/want"
    sed -E 's/0x[0-9a-f]+/0xADDRESS/g' "$tmp/actual" >"$tmp/got"
    if ! diff -u "$tmp/want" "$tmp/got" | sed 's/^/    /'; then :; fi
    if ! cmp -s "$tmp/want" "$tmp/got"; then
      fail "the program's output differs from the text block after it (- guide, + actual)"
      return
    fi
  fi
  echo "ok: $doc:$line: program compiles, links and runs as shown"
}

for i in $(seq 1 "$count"); do
  read -r line meta <"$tmp/$i.meta"
  kind=${meta%% *}
  case "$kind" in
    program)
      check_program "$i" "$meta" ;;
    unit)
      name=$(sed -nE 's/.*(^| )name=([^ ]+).*/\2/p' <<<"$meta")
      [ -n "$name" ] && unit_of[$name]=$tmp/$i.c
      if compile_file "$tmp/$i.c" -Wno-unused-function; then
        echo "ok: $doc:$line: unit compiles"
      else
        fail "the unit does not compile"
      fi ;;
    fragment)
      uses=$(sed -nE 's/.*(^| )uses=([^ ]+).*/\2/p' <<<"$meta")
      {
        printf '#include <pthread.h>\n#include <stdint.h>\n#include <stdio.h>\n'
        printf '#include <stdlib.h>\n#include <string.h>\n#include <tricolor.h>\n'
        for u in ${uses//,/ }; do
          if [ -z "${unit_of[$u]+set}" ]; then
            echo "#error uses=$u: no unit named $u before this fragment"
          else
            cat "${unit_of[$u]}"
          fi
        done
        printf 'void snippet_fragment(void);\nvoid snippet_fragment(void)\n{\n'
        cat "$tmp/$i.c"
        printf '}\n'
      } >"$tmp/fragment$i.c"
      if compile_file "$tmp/fragment$i.c" -Wno-unused-function -Wno-unused-variable \
                      -Wno-unused-but-set-variable; then
        echo "ok: $doc:$line: fragment compiles"
      else
        fail "the fragment does not compile"
      fi ;;
    excerpt=*)
      path=${kind#excerpt=}
      if [ ! -f "$root/$path" ]; then
        fail "excerpt of $path: no such file"
      elif [[ "$(cat "$root/$path")" != *"$(cat "$tmp/$i.c")"* ]]; then
        fail "the excerpt is no longer in $path, word for word: update the guide"
      elif ! compile_excerpt_source "$path"; then
        fail "$path does not compile"
      else
        echo "ok: $doc:$line: excerpt found in $path, which compiles"
      fi ;;
    "")
      fail "a \`\`\`c block without a <!-- snippet: ... --> comment on the line before it" ;;
    *)
      fail "unknown snippet kind '$kind'" ;;
  esac
done

echo "$count C blocks checked, $failures failed"
[ "$failures" -eq 0 ]
