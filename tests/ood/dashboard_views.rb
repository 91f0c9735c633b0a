# frozen_string_literal: true

# The dashboard's own page templates for a session's card and an app's launch form,
# rendered by ActionView from the OSC/ondemand checkout: loaded by dashboard.rb for its
# `card` and `form_page` commands, so Start here can show what a student will see.
#
# Rendered unmodified: batch_connect/sessions/_panel.html.erb (the card, with its header,
# body, Delete button and connection partials, so our view.html.erb's Open ComfyUI button)
# and batch_connect/session_contexts/_form.html.erb (the form, through create_widget and
# the bootstrap_form builder). What is ours, because Rails' router and railties are not
# installed (each marked SHIM or STUB):
# - the route helpers the templates call, with the paths config/routes.rb gives them
#   under the dashboard's /pun/sys/dashboard;
# - dotiw's distance_of_time_in_words (the card's time left), not in Debian;
# - bootstrap_form is Debian's ruby-bootstrap-form 4.2 (the dashboard pins 5.4): its
#   Rails engine and Action Text hook are skipped, the builder itself is unchanged.

require 'action_controller' # bootstrap_form's helpers need ActionPack's form plumbing
begin
  # STUB: bootstrap_form.rb asks Rails::VERSION only to load Action Text's rich_text_area
  # (not installed, never used by a batch_connect form) and then loads its Rails engine.
  unless defined?(Rails::VERSION)
    Rails.const_set(:VERSION, Module.new do
      const_set(:MAJOR, 5)
      const_set(:STRING, '5.2')
    end)
  end
  $LOADED_FEATURES << File.join(Gem::Specification.find_by_name('bootstrap_form').gem_dir, 'lib',
                                'bootstrap_form', 'engine.rb')
  require 'bootstrap_form'
  BootstrapForm.eager_load!
rescue LoadError, Gem::MissingSpecError => e
  fail_plainly("bootstrap_form is missing (#{e.message}): apt-get install ruby-bootstrap-form")
end

# SHIM: the named routes the card and form templates use (config/routes.rb's, under the
# dashboard's base URI), as Rails' url_helpers would answer them.
module DashboardRoutes
  BASE = '/pun/sys/dashboard'

  def root_path = "#{BASE}/"
  def batch_connect_sessions_path = "#{BASE}/batch_connect/sessions"
  def batch_connect_session_path(id) = "#{BASE}/batch_connect/sessions/#{id}"
  def batch_connect_cancel_session_path(id) = "#{BASE}/batch_connect/sessions/#{id}/cancel"
  def new_batch_connect_session_context_path(token:) = "#{BASE}/batch_connect/#{token}/session_contexts/new"
  def batch_connect_session_contexts_path(token:) = "#{BASE}/batch_connect/#{token}/session_contexts"
  def batch_connect_save_settings_path(token:) = "#{BASE}/batch_connect/#{token}/session_contexts/save_settings"

  # form_for(@session_context) asks for the record's path: the form posts to session_contexts.
  def polymorphic_path(_record, _options = {}) = batch_connect_session_contexts_path(token: @app.token)

  # No session cookie here, so no CSRF token field (ActionController would add one).
  def protect_against_forgery? = false

  # ActionController's, for javascript_include_tag(nonce: true): no Content-Security-Policy here.
  def content_security_policy_nonce = nil

  # SHIM: the dotiw gem's distance_of_time_in_words (not in Debian), which the card's session_time
  # calls with only: [:minutes, :hours] and accumulate_on: :hours: "1 hour and 59 minutes".
  def distance_of_time_in_words(from, to = 0, _include_seconds = false, options = {})
    seconds = (from.to_i - to.to_i).abs
    parts = { hour: seconds / 3600, minute: (seconds % 3600) / 60 }
    parts.delete(:hour) unless Array(options[:only]).include?(:hours) || options[:only].nil?
    words = parts.reject { |_, n| n.zero? }.map { |unit, n| pluralize(n, unit.to_s) }
    words.empty? ? 'less than 1 minute' : words.to_sentence
  end
end

# A view context as the dashboard's controllers have it: its view paths, its helpers
# (ApplicationHelper's fa_icon, the batch_connect helpers), bootstrap_form, the routes.
def page_view_context(assigns = {})
  klass = ActionView::Base.with_empty_template_cache
  klass.include(ApplicationHelper, BatchConnect::SessionContextsHelper, BatchConnect::SessionsHelper)
  klass.include(BootstrapForm::ActionViewExtensions::FormHelper, DashboardRoutes)
  klass.new(ActionView::LookupContext.new([File.join(DASHBOARD, 'app', 'views')]), assigns, nil)
end

# The session card on My Interactive Sessions (sessions/_panels.html.erb renders one
# _panel per session), in whatever state the job is in now.
def card_command
  session = input_session

  html = page_view_context.render(partial: 'batch_connect/sessions/panel', locals: { session: session }).to_s
  {
    ok: true, session_id: session.id, status: session.status.to_sym, card_status: view_context.status(session),
    heading: I18n.t('dashboard.breadcrumbs_my_sessions'), html: html
  }
end

# The launch form (session_contexts/new.html.erb's middle column: the app's title, its
# description and the _form partial), with the values the dashboard would fill in.
def form_page_command
  app = BatchConnect::App.from_token(app_token)
  fail_plainly(app.validation_reason.presence || 'The app is not valid.') unless app.valid?
  context = app.build_session_context
  format = app.clusters.first.job_config[:adapter] unless app.clusters.empty?
  assigns = { app: app, session_context: context, render_format: format }
  view = page_view_context(assigns)
  view.instance_variable_set(:@app, app) # DashboardRoutes#polymorphic_path reads it
  form_html = view.render(partial: 'batch_connect/session_contexts/form').to_s
  {
    ok: true, token: app.token, title: app.title, heading: I18n.t('dashboard.breadcrumbs_my_sessions'),
    description_html: OodAppkit.markdown.render(app.description.to_s), form_html: form_html,
    launch: I18n.t('dashboard.batch_connect_form_launch')
  }
end
