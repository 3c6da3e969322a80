// Before the page is drawn: a browser that has logged in (the signed_in cookie, set at log in and
// cleared at log out) sees no "Log in" or "Register" in the menu of the shared, cached pages.
if (document.cookie.split("; ").includes("signed_in=1")) document.documentElement.classList.add("signed-in");
