// Command validate checks rendered Kubernetes manifests offline, without a
// cluster and without downloading schemas: every document is decoded
// strictly into its typed object from k8s.io/api (an unknown, misspelled or
// duplicated field, or a value of the wrong type, is an error), then the
// objects are checked together (see checks.go): Service ports target
// container ports that exist in the pods they select, probes use declared
// ports, mounts use declared volumes, names and labels are valid, and every
// container runs non-root with a read-only root filesystem.
//
// Usage:
//
//	validate FILE...                     check the manifests (- reads stdin)
//	validate -configmap-key KEY FILE...  check, then print the value of KEY
//	                                     in the one ConfigMap that has it
//	validate -container-args KIND/NAME/CONTAINER FILE...
//	                                     check, then print that container's
//	                                     command and args, one a line
//
// scripts/check-helm.sh runs it on the Helm chart's rendered output.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	key := flag.String("configmap-key", "", "print this key of the one ConfigMap that has it")
	args := flag.String("container-args", "", "print the command and args of this KIND/NAME/CONTAINER, one a line")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: validate [-configmap-key KEY | -container-args KIND/NAME/CONTAINER] FILE... (- for stdin)\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	var objects []Object
	failed := false
	for _, name := range flag.Args() {
		data, err := readInput(name)
		if err != nil {
			fmt.Fprintf(os.Stderr, "validate: %v\n", err)
			os.Exit(2)
		}
		objs, errs := Decode(name, data)
		objects = append(objects, objs...)
		for _, e := range errs {
			fmt.Fprintf(os.Stderr, "validate: %v\n", e)
			failed = true
		}
	}
	for _, e := range Check(objects) {
		fmt.Fprintf(os.Stderr, "validate: %v\n", e)
		failed = true
	}
	if failed {
		os.Exit(1)
	}
	if *key != "" {
		value, err := ConfigMapValue(objects, *key)
		if err != nil {
			fmt.Fprintf(os.Stderr, "validate: %v\n", err)
			os.Exit(1)
		}
		fmt.Print(value)
		return
	}
	if *args != "" {
		lines, err := ContainerArgs(objects, *args)
		if err != nil {
			fmt.Fprintf(os.Stderr, "validate: %v\n", err)
			os.Exit(1)
		}
		for _, l := range lines {
			fmt.Println(l)
		}
		return
	}
	fmt.Fprintf(os.Stderr, "validate: %d objects valid: %s\n", len(objects), Summary(objects))
}

func readInput(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(name)
}
