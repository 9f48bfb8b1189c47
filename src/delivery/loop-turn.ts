/**
 * Turns of the event loop, counted. A turn is one pass of the loop: it polls for I/O once, runs
 * the callbacks of what had arrived, then its immediates (setImmediate). Read twice within one
 * turn, the count is the same; once the loop has polled again, it differs. The delivery path uses
 * it to tell whether a record it read can still stand for a check made just before a send (see
 * send.ts): within the turn in which the reply was read, nothing newer has been read.
 *
 * The count moves on in the immediates of a turn in which it was read. That holds when it is first
 * read before that turn's immediates run, which is the case for the reads that matter (a Redis
 * reply is handled when the loop polls); an immediate queued while immediates run waits for the
 * next turn, so a count first read there would last one turn too long.
 */
let turn = 0;
let ending = false;

function endTurn(): void {
  turn++;
  ending = false;
}

/** The number of the current turn of the event loop. */
export function currentTurn(): number {
  if (!ending) {
    ending = true;
    setImmediate(endTurn).unref();
  }
  return turn;
}
