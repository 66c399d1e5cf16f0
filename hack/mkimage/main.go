// Command mkimage builds the example app (examples/app) into the OCI image
// tarballs bosun's demos and tests import: hello-v1.tar, hello-v2.tar and
// hello-broken.tar (bosun.local/hello:v1, :v2, :broken).
//
//	go run ./hack/mkimage -out bin/images
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/bosun-dev/bosun/examples/app/appimage"
)

func main() {
	out := flag.String("out", "bin/images", "directory to write the image tarballs into")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	paths, err := appimage.Build(ctx, *out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
		os.Exit(1)
	}
	for i, img := range appimage.Images() {
		fmt.Printf("%s\t%s\n", paths[i], img.Ref)
	}
	fmt.Printf("built %d images in %s\n", len(paths), time.Since(start).Round(time.Millisecond))
}
