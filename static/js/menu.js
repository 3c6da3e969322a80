// Run before the page is drawn. The signed_in cookie (set at log-in; cleared at log-out and on the
// log-in page once the session has ended) hides "Log in" and "Register" in the shared, cached pages.
if (document.cookie.split("; ").includes("signed_in=1")) document.documentElement.classList.add("signed-in");
