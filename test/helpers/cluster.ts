// Profiles and webhook registration on the test control plane: src/dev/cluster.ts (shared with
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
  type RegisterWebhookOptions,
} from '../../src/dev/cluster.js';
