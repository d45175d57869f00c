// Profiles and webhook registration on the test control plane, as tools/dev/cluster.ts has them
// (shared with `npm run dev` and the benchmark). New tests import tools/dev/cluster.ts itself.

export {
  apiErrorMessage,
  createObjects,
  profiles,
  registerWebhook,
  waitUntilMutating,
} from '../../tools/dev/cluster.js';
