"a\"b\\c\n\t\q" "multi
line" "" "\\" (display "tab\there")
