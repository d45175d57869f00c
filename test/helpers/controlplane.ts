// A real Kubernetes control plane, as tools/dev/controlplane.ts starts it (shared with `npm run
// dev` and the benchmark). New tests import tools/dev/controlplane.ts itself.

export { installProfileCrd, startControlPlane } from '../../tools/dev/controlplane.js';
