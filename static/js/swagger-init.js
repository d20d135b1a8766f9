// Starts Swagger UI on /api/docs. validatorUrl: null keeps it from calling the public
// validator: no request leaves the machine.
window.addEventListener("load", function () {
  var container = document.getElementById("swagger-ui-container");
  window.ui = SwaggerUIBundle({
    url: container.dataset.specUrl,
    dom_id: "#swagger-ui-container",
    validatorUrl: null,
    deepLinking: true,
    persistAuthorization: true,
  });
});
