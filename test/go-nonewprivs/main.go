// Command go-nonewprivs prints its effective uid, as the conformance suite's nonewprivs image
// does: installed setuid root, it shows whether exec gained privileges (no_new_privs false) or
// not (no_new_privs true).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Printf("Effective uid: %d\n", os.Geteuid())
}
