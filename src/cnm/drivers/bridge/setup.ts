// A bridge network's setup, as moby's drivers/bridge/setup_*.go: small named
// steps run in order, each leaving its own undo, all undone when one fails.
import type { CnmContext } from '../../context';
import type { NetworkRecord } from '../../types';

export type Undo = () => Promise<void>;
export type SetupStep = (ctx: CnmContext, n: NetworkRecord, undo: Undo[]) => Promise<void>;

/**
 * Runs the steps; on failure undoes what they made (half made, a bridge
 * would look done to the next join) and rethrows. On success their undo
 * steps go to `undo`, for the caller's later steps.
 */
export async function runSetup(ctx: CnmContext, n: NetworkRecord, steps: SetupStep[], undo: Undo[] = []): Promise<void> {
  const mine: Undo[] = [];
  try {
    for (const step of steps) await step(ctx, n, mine);
  } catch (e) {
    for (const u of mine.reverse()) await u().catch(() => {});
    throw e;
  }
  undo.push(...mine);
}
