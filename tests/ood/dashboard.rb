# frozen_string_literal: true

# Drive Open OnDemand's own dashboard code against a batch_connect app, without Rails.
#
#   ruby tests/ood/dashboard.rb form|submit|session|card|form_page ['{"app": "/path/to/app", ...}']
#
# (the JSON comes from stdin when it is not an argument). It prints one JSON object on
# stdout and exits 0, or prints {"ok": false, "error": "<plain message>"} and exits 1.
#
# Why this file exists: OOD cannot be installed here, but its dashboard models are plain
# Ruby. We load them, unmodified, from checkouts of OSC/ondemand ($OOD_DIR) and
# OSC/ood_core ($OOD_CORE_DIR), with Debian's ActiveSupport/ActiveModel/ActionView 6.1, and
# do what the controllers do: BatchConnect::App, SessionContext, Session, the smart
# attributes, ood_core's Cluster, the 'basic' batch connect template and the Slurm adapter
# all run as OOD's own code. The connection button and the session card's info views are
# rendered by ActionView from the dashboard's own partials and helpers.
#
# What is ours, and only because Rails and two gems are not installed (each marked SHIM
# or STUB below): a tiny `Rails` module (root, env, logger, cache, routes, secret), the
# OodAppkit settings the models and views read (clusters, dataroot, markdown, the Shell and
# Files apps' URLs: same code as ood_appkit's configuration), OodSupport::Process.user (the login user, from Etc), and
# an empty `fog/openstack` (ood_core requires it at load; only its OpenStack helper uses it).
#
# The app is served as a development ("sandbox") app: OOD_DEV_APPS_ROOT is set to the
# app folder's parent, so its token is "dev/<folder name>", as the dashboard would have
# it for ~/ondemand/dev/<name>. Everything else is read from the environment, as OOD does:
# OOD_CLUSTERS (the clusters.d folder) and OOD_DATAROOT (where sessions are staged).

require 'json'

OOD_DIR = ENV['OOD_DIR'].to_s
OOD_CORE_DIR = ENV['OOD_CORE_DIR'].to_s

# A failure the caller should see as one plain sentence, not a Ruby traceback.
class DriverError < StandardError; end

def fail_plainly(message)
  $stdout.puts JSON.generate({ ok: false, error: message.to_s })
  exit 1
end

DASHBOARD = File.join(OOD_DIR, 'apps', 'dashboard')
unless File.file?(File.join(DASHBOARD, 'app', 'models', 'batch_connect', 'session.rb')) &&
       File.file?(File.join(OOD_CORE_DIR, 'lib', 'ood_core.rb'))
  fail_plainly('OOD_DIR and OOD_CORE_DIR must name checkouts of OSC/ondemand and OSC/ood_core.')
end

command = ARGV[0].to_s
input_text = ARGV[1] || $stdin.read
begin
  INPUT = input_text.to_s.strip.empty? ? {} : JSON.parse(input_text)
rescue JSON::ParserError => e
  fail_plainly("The input is not JSON: #{e.message}")
end
COMMANDS = %w[form submit session card form_page].freeze
fail_plainly("Unknown command #{command.inspect}: use #{COMMANDS.join(', ')}.") unless COMMANDS.include?(command)
APP_DIR = File.expand_path(INPUT.fetch('app') { fail_plainly('The input names no "app" folder.') })
fail_plainly("There is no app folder at #{APP_DIR}.") unless File.directory?(APP_DIR)

# Where OOD's dashboard finds apps and data: set before its configuration is read.
ENV['OOD_DEV_APPS_ROOT'] = File.dirname(APP_DIR)
DATAROOT_GIVEN = !ENV['OOD_DATAROOT'].to_s.empty?
if !%w[form form_page].include?(command) && !DATAROOT_GIVEN
  # Without it the dashboard would stage into its own checkout (apps/dashboard/data).
  fail_plainly("OOD_DATAROOT is not set: it is where OOD stages and records sessions.")
end

# STUB: ood_support (not in Debian). ood_core requires it for ACLs, which our clusters
# do not use; DevRouter asks it for the login user's name.
module OodSupport
  module Process
    User = Struct.new(:name)
    def self.user = User.new(Etc.getpwuid(::Process.uid).name)
  end
end

begin
  require 'etc'
  require 'logger'
  require 'pathname'
  require 'ostruct'
  require 'securerandom'
  require 'open3'
  require 'fileutils'
  require 'erb'
  require 'yaml'
  require 'active_support'
  require 'active_support/core_ext'
  require 'active_model'
  require 'action_view'
  require 'climate_control'
  require 'redcarpet'
  require 'zeitwerk'
  require 'dotenv'

  # STUB: ood_core requires fog/openstack for its OpenStack helper only, which a Slurm
  # cluster never calls (Debian's ruby-fog-openstack would pull in fog), and ood_support,
  # whose one use here is the module above.
  $LOADED_FEATURES << 'fog/openstack.rb' << 'ood_support.rb'
  $LOAD_PATH.unshift(File.join(OOD_CORE_DIR, 'lib'))
  require 'ood_core'
rescue LoadError => e
  fail_plainly("A Ruby library is missing (#{e.message}): install Debian's ruby-activemodel, ruby-actionview, " \
               'ruby-redcarpet, ruby-climate-control, ruby-dotenv and ruby-zeitwerk.')
end

# What OOD logs (Session#save logs every error it rescues) is returned as "log".
LOG = StringIO.new

# SHIM: the few things the models ask of Rails (railties is not installed). Values as
# the dashboard has them: Rails.root is apps/dashboard; the cache is off, so every
# App.from_token reads the app afresh, as after the dashboard's 6-hour cache expires.
module Rails
  class << self
    def root = Pathname.new(DASHBOARD)
    def env = ActiveSupport::StringInquirer.new(ENV['RAILS_ENV'] || 'development')
    def logger = (@logger ||= Logger.new(LOG))
    def cache = (@cache ||= ActiveSupport::Cache::NullStore.new)
    def application = (@application ||= Application.new)
  end

  # Only url_helpers (OodApp includes the module at load; links are never built here)
  # and secret_key_base (EncryptedCache, for password fields) are used.
  class Application
    Routes = Struct.new(:url_helpers)
    def routes = (@routes ||= Routes.new(Module.new))
    def secret_key_base = (@secret_key_base ||= SecureRandom.hex(64))
  end
end

# As config/boot.rb does: the dashboard's configuration singleton, and OOD_DATAROOT
# defaulted from it.
require File.join(DASHBOARD, 'config', 'configuration_singleton')
Configuration = ConfigurationSingleton.new
ENV['OOD_DATAROOT'] = Configuration.dataroot.to_s

# STUB: ood_appkit (not in Debian). These are its own defaults from
# lib/ood_appkit/configuration.rb: clusters parsed from OOD_CLUSTERS (or
# /etc/ood/config/clusters.d), dataroot from OOD_DATAROOT, the Redcarpet renderer.
module OodAppkit
  class << self
    def dataroot
      Pathname.new(ENV['OOD_DATAROOT']).expand_path if ENV['OOD_DATAROOT']
    end

    def clusters
      @clusters ||= begin
        OodCore::Clusters.load_file(ENV['OOD_CLUSTERS'] || '/etc/ood/config/clusters.d')
      rescue OodCore::ConfigurationNotFound
        OodCore::Clusters.new([])
      end
    end

    # ood_appkit's ShellUrl default (the card's host button links to it).
    def shell = (@shell ||= Struct.new(:base) { def url(host:) = "#{base}/ssh/#{host}" }.new('/pun/sys/shell'))

    # ood_appkit's FilesUrl default (the card's session-id link and the app's info view link into it).
    def files = (@files ||= Struct.new(:base) { def url(path:) = "#{base}/fs#{path}" }.new('/pun/sys/dashboard/files'))

    def markdown
      @markdown ||= Redcarpet::Markdown.new(
        Redcarpet::Render::HTML,
        autolink: true, tables: true, strikethrough: true, fenced_code_blocks: true, no_intra_emphasis: true
      )
    end
  end
end

# The dashboard's messages (config/locales), as config/initializers/locales.rb sets them.
I18n.load_path += Dir[File.join(DASHBOARD, 'config', 'locales', '*.{yml,rb}')]
I18n.default_locale = Configuration.locale
I18n.available_locales = [:en, Configuration.locale].uniq

# Rails autoloads the dashboard with Zeitwerk; so do we, from the same folders
# (app/* and app/models/concerns as roots, lib without assets and tasks).
loader = Zeitwerk::Loader.new
%w[apps models models/concerns lib helpers].each do |dir|
  path = File.join(DASHBOARD, 'app', dir)
  loader.push_dir(path)
  $LOAD_PATH.unshift(path) # `require 'smart_attributes'` goes through $LOAD_PATH, as in Rails 7.0 defaults
end
loader.push_dir(File.join(DASHBOARD, 'lib'))
loader.ignore(File.join(DASHBOARD, 'lib', 'assets'), File.join(DASHBOARD, 'lib', 'tasks'))
loader.setup

# JSON for what OOD returns (symbols, Pathnames, SafeBuffers, Dates...).
def plain(value)
  case value
  when Hash then value.to_h { |k, v| [k.to_s, plain(v)] }
  when Array then value.map { |v| plain(v) }
  when nil, true, false, Integer, Float then value
  else value.to_s
  end
end

# An ActionView context with the dashboard's view paths and batch_connect helpers, for
# rendering the dashboard's own partials.
def view_context
  @view_context ||= begin
    klass = ActionView::Base.with_empty_template_cache
    klass.include(BatchConnect::SessionContextsHelper)
    klass.include(BatchConnect::SessionsHelper)
    klass.new(ActionView::LookupContext.new([File.join(DASHBOARD, 'app', 'views')]), {}, nil)
  end
end

def app_token = "dev/#{File.basename(APP_DIR)}"

# What a cluster looks like to the form and the submit.
def cluster_summary(cluster)
  {
    id: cluster.id.to_s, title: cluster.metadata.title, valid: cluster.valid?,
    errors: cluster.respond_to?(:errors) ? cluster.errors : [],
    job_allow: (cluster.job_allow? rescue false), adapter: cluster.job_config[:adapter],
    batch_connect: cluster.batch_connect_config
  }
end

# The app's clusters as the dashboard computes them, and those form.yml names that
# clusters.d does not have (the dashboard drops them without a word).
def clusters_report(app)
  known = OodAppkit.clusters.map { |c| c.id.to_s }
  {
    clusters_d: ENV['OOD_CLUSTERS'],
    all_clusters: OodAppkit.clusters.map { |c| cluster_summary(c) },
    configured_clusters: app.configured_clusters,
    clusters: app.clusters.map { |c| cluster_summary(c) },
    missing_clusters: app.configured_clusters.reject { |c| known.any? { |k| File.fnmatch(c, k, File::FNM_EXTGLOB) } }
  }
end

# One form field as new.html.erb's create_widget would build it.
def attribute_report(attrib, format)
  field = attrib.field_options(fmt: format)
  report = {
    id: attrib.id, widget: attrib.widget, label: attrib.label(fmt: format), help: attrib.help(fmt: format),
    help_html: attrib.help_html(fmt: format), value: attrib.value, fixed: attrib.fixed?,
    required: attrib.required, hidden: attrib.fixed? || (attrib.hide_when_empty? && attrib.value.blank?),
    min: field[:min], max: field[:max], step: field[:step],
    field_options: field.except(:help), html_options: attrib.html_options
  }
  if %w[select radio radio_button].include?(attrib.widget)
    choices = attrib.select_choices(hide_excludable: true)
    report[:options] = choices.map do |choice|
      label, value, *rest = choice
      # Rails' options_for_select turns every hash in the entry into <option> attributes.
      { label: label, value: value, attributes: rest.grep(Hash).reduce({}, :merge) }
    end
    # The <option> tags the dashboard's select renders, by ActionView's own helper.
    report[:options_html] = view_context.options_for_select(choices, attrib.value).to_s
  end
  report
end

# GET /batch_connect/<token>/session_contexts/new (SessionContextsController#new).
def form_command
  app = BatchConnect::App.from_token(app_token)
  valid = app.valid?
  # ok: the dashboard shows the form (an invalid app gets the reason as an alert instead).
  result = {
    ok: valid, token: app.token, title: app.title, valid: valid, validation_reason: app.validation_reason.presence,
    form_layout: app.form_layout
  }.merge(clusters_report(app))
  return result.merge(attributes: [], error: app.validation_reason) unless valid

  begin
    context = app.build_session_context
  rescue StandardError => e
    # The controller does not rescue this: the dashboard shows its error page.
    return result.merge(ok: false, attributes: [], error: "#{e.class}: #{e.message}")
  end
  format = app.clusters.first.job_config[:adapter] unless app.clusters.empty?
  # Values the form would be filled with from the last launch (only with a dataroot).
  if DATAROOT_GIVEN
    cache_file = BatchConnect::Session.cache_root.join(app.cache_file)
    app.update_session_with_cache(context, cache_file)
    result[:cache_file] = cache_file.to_s
  end
  items = app.form_layout.flatten.map { |item| context[view_context.format_bc_id(item)] }.compact
  result.merge(render_format: format, attributes: items.map { |a| attribute_report(a, format) })
end

# POST /batch_connect/<token>/session_contexts (SessionContextsController#create).
def submit_command
  app = BatchConnect::App.from_token(app_token)
  fail_plainly(app.validation_reason.presence || 'The app is not valid.') unless app.valid?
  begin
    context = app.build_session_context
  rescue StandardError => e
    fail_plainly("#{e.class}: #{e.message}")
  end
  format = app.clusters.first.job_config[:adapter] unless app.clusters.empty?

  # The form posts strings; only the form's own (not fixed) fields are permitted.
  values = INPUT.fetch('values', {}).to_h { |k, v| [k.to_s, v.to_s] }
  permitted = context.attributes.keys
  context.attributes = values.slice(*permitted)

  session = BatchConnect::Session.new
  saved = session.save(app: app, context: context, format: format)
  result = {
    ok: saved, token: app.token, session_id: session.id, job_id: session.job_id, cluster_id: session.cluster_id,
    staged_root: session.staged_root.to_s, db_file: session.db_file.to_s, script_type: session.script_type,
    render_format: format, ignored_values: values.keys - permitted, context: context.to_h,
    errors: session.errors.map do |error|
      heading = case error.attribute
                when :submit then I18n.t('dashboard.batch_connect_sessions_errors_submission')
                when :stage then I18n.t('dashboard.batch_connect_sessions_errors_staging')
                else error.attribute.to_s
                end
      { attribute: error.attribute.to_s, heading: heading, message: error.message }
    end
  }
  if saved
    # As the controller: remember the values for the next form (EncryptedCache hides passwords).
    cacher = Object.new.extend(EncryptedCache)
    data = cacher.encypted_cache_data(app: app, data: context.to_openstruct.to_h)
    BatchConnect::Session.cache_root.join(app.cache_file).write(data.to_json)
  else
    result[:error] = result[:errors].map { |e| "#{e[:heading]} #{e[:message]}".strip }.join("\n").presence ||
                     'The session was not saved.'
  end
  result
end

def render_partial(name, locals)
  view_context.render(partial: name, locals: locals).to_s
end

# The session the input's "session_id" names, its state brought up to date as the index page does.
def input_session
  id = INPUT.fetch('session_id') { fail_plainly('The input names no "session_id".') }.to_s
  sessions = BatchConnect::Session.all
  sessions.each(&:update_cache_completed!)
  sessions.find { |s| s.id == id } || fail_plainly("There is no session #{id} in #{BatchConnect::Session.db_root}.")
end

# GET /batch_connect/sessions (SessionsController#index), for one session's card.
def session_command
  session = input_session

  connect = session.connect_file.file? ? session.connect.to_h : nil
  info_view = session.render_info_view
  completed_view = session.render_completed_view
  {
    ok: true, session_id: session.id, job_id: session.job_id, cluster_id: session.cluster_id, token: session.token,
    title: session.title, staged_root: session.staged_root.to_s, db_file: session.db_file.to_s,
    status: session.status.to_sym, card_status: view_context.status(session),
    starting: session.starting?, running: session.running?, completed: session.completed?,
    connect: connect, user_context: session.user_context,
    info_view: info_view, info_view_error: session.render_info_view_error_message,
    completed_view: completed_view, completed_view_error: session.render_completed_view_error_message,
    # The card's own partials, as _card_body.html.erb renders them.
    info_html: (render_partial('batch_connect/sessions/card/custom_info_view', session: session) if session.app.session_info_view),
    completed_html: (if session.app.session_completed_view && session.completed?
                       render_partial('batch_connect/sessions/card/completed_view', session: session)
                     end),
    # What the card shows under its header: the connect button once running.
    connection_html: view_context.render_connection(session).to_s,
    # view.html.erb as connections/_custom.html.erb renders it, whatever the job's state.
    view_html: (if connect && session.view
                  render_partial('batch_connect/sessions/connections/custom',
                                 view: session.view, connect: session.connect, session: session)
                end),
    info_errors: session.errors.full_messages
  }
end

require_relative 'dashboard_views' if %w[card form_page].include?(command)

begin
  result = send("#{command}_command")
  result[:log] = LOG.string.lines.map(&:chomp)
  $stdout.puts JSON.generate(plain(result))
  exit(result[:ok] ? 0 : 1)
rescue SystemExit
  raise
rescue StandardError, ScriptError => e
  # A bug in this driver or an OOD incompatibility: one line, with where it happened.
  where = e.backtrace.to_a.first.to_s
  fail_plainly("#{e.class}: #{e.message} (at #{where})")
end
