// Profiles and webhook registration on the test control plane: tools/dev/cluster.ts (shared with
// `npm run dev` and the benchmark).

export {
  apiErrorMessage,
  createObjects,
  plainProfile,
  PROFILES,
  profiles,
  registerWebhook,
  waitUntilMutating,
  type Profile,
} from '../../tools/dev/cluster.js';
