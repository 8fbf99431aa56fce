// Waiting for the server's copy of a cart this device has just opened (the account cart at
// sign-in), so that what the page does next sees the lines other devices put there.

/**
 * Resolves once `cart` holds the server's copy: a change from the server, word that there is
 * none yet (`cart_unavailable`), a sync after which the cart has lines, a failed sync, or after
 * `waitMs`, whichever comes first. Never rejects.
 */
export function serverCopy(cart, waitMs) {
  return new Promise((resolve) => {
    let finished = false;
    let timer;
    let stop;
    const done = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      stop?.();
      resolve();
    };
    // `subscribe` hands over a warning raised while the cart was opening before it returns,
    // so `done` may run before `stop` is assigned.
    stop = cart.subscribe((event) => {
      const arrived = event.type === 'change' && event.origin === 'remote';
      if (arrived || (event.type === 'warning' && event.code === 'cart_unavailable')) done();
    });
    if (finished) {
      stop();
      return;
    }
    timer = setTimeout(done, waitMs);
    // This device already had the cart and nothing new came: no event will follow.
    cart.sync(waitMs).then(() => cart.itemCount() > 0 && done(), done);
  });
}
