import t from 'tap';
import { ListRolesCommand } from '@aws-sdk/client-iam';
import { setTimeout as sleep } from 'node:timers/promises';
import { startE2eControlPlane, startE2eMoto } from '../helpers/e2e.js';
import { createReview } from '../helpers/reviews.js';
import { startTestWebhook } from '../helpers/webhook.js';

/*
 * Anyone who can reach the webhook's Service can POST AdmissionReviews for Profiles that are
 * never stored. Each valid one makes a role (up to the creation budget). Every such role is
 * deleted, whatever --orphan-policy says (retain, the default, here): it never served a Profile.
 * The reconciler runs on its defaults except the grace (4 s instead of 10 min) and the full-pass
 * interval (an hour: only the sweep of the role path may find them).
 *
 * Each such role takes nine IAM calls at the default --iam-rate (10 a second) to find and delete,
 * so the burst the creation rate lets through is gone well within the grace plus a minute.
 */

const GRACE_MS = 4000;
const FORGED = 100;
const ROLE_PATH = '/kubeflow-profiles/';

const { iam } = await startE2eMoto();
await startE2eControlPlane({ namespaces: ['irsa-system'] });

async function rolesUnderPath(): Promise<string[]> {
  const names: string[] = [];
  let marker: string | undefined;
  do {
    const page = await iam.send(
      new ListRolesCommand({ PathPrefix: ROLE_PATH, ...(marker ? { Marker: marker } : {}) }),
    );
    names.push(...(page.Roles ?? []).map((role) => role.RoleName!));
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker !== undefined);
  return names;
}

t.test(
  `${FORGED} forged reviews leave no role: the sweep deletes every role they made`,
  async (t) => {
    const webhook = await startTestWebhook(
      { RECONCILE: 'true', POD_NAMESPACE: 'irsa-system', POD_NAME: 'replica-a' },
      {
        reconcile: {
          intervalMs: 60 * 60_000,
          orphanGraceMs: GRACE_MS,
          leaseDurationMs: 3000,
          renewDeadlineMs: 2000,
          retryPeriodMs: 300,
        },
      },
    );
    t.teardown(() => webhook.stop());

    const answers = await Promise.all(
      Array.from({ length: FORGED }, (_, i) =>
        webhook.post('/mutate', createReview(`forged-${String(i).padStart(3, '0')}`)),
      ),
    );
    const patched = answers.filter(
      (a) => a.status === 200 && a.json().response?.allowed === true,
    ).length;
    const made = (await rolesUnderPath()).length;
    t.ok(
      made > 0,
      `the forged reviews made roles (${made}; ${patched} patched, the rest past the creation rate)`,
    );
    t.ok(made <= FORGED, 'never more roles than reviews');

    const started = Date.now();
    let left = made;
    while (left > 0 && Date.now() - started < GRACE_MS + 60_000) {
      await sleep(1000);
      left = (await rolesUnderPath()).length;
    }
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    t.equal(
      left,
      0,
      `no role left ${seconds} s after the forged reviews (grace ${GRACE_MS / 1000} s)`,
    );
    t.comment(`forged reviews: ${FORGED}, roles made: ${made}, left after ${seconds} s: ${left}`);
  },
);
