# SPDX-License-Identifier: MIT
#
# A tool's argp --help (bcc style: a USAGE line in the doc, EXAMPLES
# after the options) in the form help2man(1) reads, so that every man
# page is made from the tool's own help and cannot drift from it:
#
#   - argp's "Usage: PROG [OPTION...]" line gives way to the doc's
#     "USAGE: ..." line, which names the options: the SYNOPSIS;
#   - the first option line opens "Options:", which help2man makes the
#     OPTIONS section (the text before it stays the DESCRIPTION);
#   - a heading in capitals ("EXAMPLES:") opens that section;
#   - after the examples, a paragraph "Exit status: ..." opens EXIT
#     STATUS and any other plain paragraph opens OUTPUT (what the tool
#     prints: the --stats line, the columns, the counts).
#
# Anything else passes through unchanged.  --version output has none
# of these and passes through whole.

NR == 1 && /^Usage: / { next }

/^USAGE: / {
	sub(/^USAGE: /, "Usage: ")
	print
	next
}

!opts && /^  +-/ {
	print "Options:"
	opts = 1
}

/^[A-Z][A-Z ]*:$/ {
	sub(/:$/, "")
	print "*" $0 "*"
	examples = ($0 == "EXAMPLES")
	blank = 0
	next
}

# after the examples: an unindented line after a blank one opens a
# paragraph of its own section
(examples || after) && blank && /^[^ ]/ {
	if (/^Exit status: /) {
		sub(/^Exit status: /, "")
		print "*Exit status*"
		sect = "exit"
	} else if (sect != "output") {
		print "*Output*"
		sect = "output"
	}
	examples = 0
	after = 1
}

{
	blank = ($0 == "")
	print
}
