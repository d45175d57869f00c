// A real Kubernetes control plane for tests: tools/dev/controlplane.ts (shared with `npm run dev`
// and the benchmark). Tests call startControlPlane() and never skip: when the binary is missing
// it throws and says how to build it.

export { BUILD_HINT, installProfileCrd, startControlPlane } from '../../tools/dev/controlplane.js';
